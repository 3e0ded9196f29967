// Package deploy holds the deployment files; its test checks them
// statically, since no container engine runs where the tests do.
package deploy

import (
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestComposeFile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docker-compose.yml")
	require.NoError(t, err)
	var c struct {
		Services map[string]struct {
			Image       string         `yaml:"image"`
			Build       map[string]any `yaml:"build"`
			Environment map[string]any `yaml:"environment"`
			Volumes     []string       `yaml:"volumes"`
			DependsOn   map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Healthcheck map[string]any `yaml:"healthcheck"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	require.NoError(t, yaml.Unmarshal(b, &c))
	for _, name := range []string{"mysql", "namesrv", "broker", "api", "worker"} {
		require.Contains(t, c.Services, name)
	}
	for _, name := range []string{"mysql", "namesrv", "broker"} {
		require.NotEmpty(t, c.Services[name].Healthcheck, "%s has a health check", name)
		require.NotEmpty(t, c.Services[name].Image)
	}
	require.Contains(t, c.Volumes, "files")
	for _, name := range []string{"api", "worker"} {
		s := c.Services[name]
		require.Equal(t, "deploy/Dockerfile", s.Build["dockerfile"])
		require.Equal(t, name, s.Build["target"])
		require.Contains(t, s.Volumes, "files:/files", "%s mounts the shared volume", name)
		require.Equal(t, "service_healthy", s.DependsOn["mysql"].Condition)
		require.Equal(t, "service_healthy", s.DependsOn["broker"].Condition)
		for _, v := range []string{"DC_MYSQL_DSN", "DC_ROCKETMQ_NAMESRV", "DC_STORAGE_DIR"} {
			require.Contains(t, s.Environment, v, "%s gets %s", name, v)
		}
	}
	require.Empty(t, c.Services["worker"].Environment["DC_HTTP_ADDR"], "workers serve no HTTP")
	require.Equal(t, []any{"CMD", "/dc-api", "healthcheck"}, c.Services["api"].Healthcheck["test"],
		"the api image probes itself (TestHealthcheckCommand in cmd/api)")
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("k8s/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	kinds := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, f)
			require.NotEmpty(t, doc["apiVersion"], f)
			kind, _ := doc["kind"].(string)
			meta, _ := doc["metadata"].(map[string]any)
			name, _ := meta["name"].(string)
			require.NotEmpty(t, kind, f)
			require.NotEmpty(t, name, f)
			kinds[kind+"/"+name] = doc
		}
	}
	for _, k := range []string{"Deployment/download-center-api", "Deployment/download-center-worker",
		"Service/download-center-api", "ConfigMap/download-center", "Secret/download-center",
		"PersistentVolumeClaim/download-center-files"} {
		require.Contains(t, kinds, k)
	}
	pvc := kinds["PersistentVolumeClaim/download-center-files"]["spec"].(map[string]any)
	require.Equal(t, []any{"ReadWriteMany"}, pvc["accessModes"])

	pod := func(name string) map[string]any {
		spec := kinds["Deployment/"+name]["spec"].(map[string]any)
		sel := spec["selector"].(map[string]any)["matchLabels"].(map[string]any)
		tmpl := spec["template"].(map[string]any)
		labels := tmpl["metadata"].(map[string]any)["labels"].(map[string]any)
		for k, v := range sel {
			require.Equal(t, v, labels[k], "%s selector matches its pods", name)
		}
		return tmpl["spec"].(map[string]any)
	}
	api := pod("download-center-api")["containers"].([]any)[0].(map[string]any)
	require.Equal(t, "/healthz", api["readinessProbe"].(map[string]any)["httpGet"].(map[string]any)["path"])
	worker := pod("download-center-worker")
	require.Greater(t, worker["terminationGracePeriodSeconds"], 30, "longer than DC_SHUTDOWN_GRACE")
	cfg := kinds["ConfigMap/download-center"]["data"].(map[string]any)
	require.Equal(t, "30s", cfg["DC_SHUTDOWN_GRACE"])
}

// TestStaticBuild builds what the Dockerfile builds: both binaries with
// cgo off.
func TestStaticBuild(t *testing.T) {
	t.Parallel()
	df, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	require.Contains(t, string(df), "CGO_ENABLED=0")
	out := t.TempDir()
	for _, pkg := range []string{"./cmd/api", "./cmd/worker"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(out, filepath.Base(pkg)), pkg)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		msg, err := cmd.CombinedOutput()
		require.NoError(t, err, string(msg))
		f, err := elf.Open(filepath.Join(out, filepath.Base(pkg)))
		require.NoError(t, err)
		for _, p := range f.Progs {
			require.NotEqual(t, elf.PT_INTERP, p.Type, "%s is static: no dynamic loader", pkg)
		}
		require.NoError(t, f.Close())
	}
}
