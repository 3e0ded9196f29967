package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// build compiles the main package pkg (a path below src, like ./cmd/api)
// into dir as name and returns the binary's path. It builds rather than
// `go run`s so the processes measured are the binaries alone.
func build(ctx context.Context, src, pkg, dir, name string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// maxKeptOutput bounds the output a proc keeps in memory for waitFor; the
// whole output is in its log file.
const maxKeptOutput = 4 << 20

// proc is a running dc-api or dc-worker. Its output goes to a log file and,
// up to maxKeptOutput, to memory so the bench can wait for log lines.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File

	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
	err  error // the exit status, once done is closed
}

// startProc runs bin with env, then extra, added to a minimal
// environment, logging to logDir/name.log.
func startProc(name, bin, logDir string, env, extra map[string]string) (*proc, error) {
	logf, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, log: logf, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	// Only what the binaries need: a stray DC_* variable of the caller's
	// shell must not change what is measured.
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for _, m := range []map[string]string{env, extra} {
		for k, v := range m {
			p.cmd.Env = append(p.cmd.Env, k+"="+v)
		}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		_ = logf.Close()
		_ = pr.Close()
		_ = pw.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	_ = pw.Close() // the child holds its own copy
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = logf.Write(line)
			_, _ = logf.Write([]byte{'\n'})
			p.mu.Lock()
			if p.out.Len() < maxKeptOutput {
				p.out.Write(line)
				p.out.WriteByte('\n')
			}
			p.mu.Unlock()
		}
		_, _ = io.Copy(logf, pr) // a line over the scanner's limit
		_ = pr.Close()
	}()
	go func() {
		err := p.cmd.Wait()
		<-copied
		_ = logf.Close()
		p.err = err
		close(p.done)
	}()
	return p, nil
}

// output is what the process printed so far (up to maxKeptOutput).
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// tail is the end of the output, for error messages.
func (p *proc) tail() string {
	out := p.output()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// waitFor waits until the output matches re and returns the submatches.
func (p *proc) waitFor(ctx context.Context, re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(p.output()); m != nil {
			return m, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited (%v) before printing %q:\n%s", p.name, p.err, re, p.tail())
		case <-ctx.Done():
			return nil, fmt.Errorf("%s did not print %q within %s: %w\n%s", p.name, re, timeout, ctx.Err(), p.tail())
		case <-tick.C:
		}
	}
}

// alive fails when the process has exited.
func (p *proc) alive() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited unexpectedly (%v):\n%s", p.name, p.err, p.tail())
	default:
		return nil
	}
}

// peakRSS is the process's peak resident set size so far (VmHWM), in
// bytes. It must be read while the process lives.
func (p *proc) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("peak rss of %s: %w", p.name, err)
	}
	return parseVmHWM(string(b))
}

// parseVmHWM reads the VmHWM line of a /proc/<pid>/status file.
func parseVmHWM(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("peak rss: unexpected line %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("peak rss: %w", err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("peak rss: no VmHWM line in /proc/<pid>/status")
}

// stop asks the process to shut down (SIGTERM) and kills it after grace.
func (p *proc) stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
