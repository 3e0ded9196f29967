// Package deploy holds the deployment files; its test checks them
// statically, since no container engine runs where the tests do.
package deploy

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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
	for _, name := range []string{"mysql", "namesrv", "broker", "seaweedfs", "api", "worker"} {
		require.Contains(t, c.Services, name)
	}
	require.Equal(t, "seaweedfs", c.Services["seaweedfs"].Build["target"], "SeaweedFS built from the pinned wrapper module")
	require.NotEmpty(t, c.Services["seaweedfs"].Healthcheck)
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
		require.Equal(t, "service_healthy", s.DependsOn["seaweedfs"].Condition)
		for _, v := range []string{"DC_MYSQL_DSN", "DC_ROCKETMQ_NAMESRV", "DC_STORAGE", "DC_STORAGE_DIR",
			"DC_S3_ENDPOINT", "DC_S3_BUCKET", "DC_S3_ACCESS_KEY", "DC_S3_SECRET_KEY"} {
			require.Contains(t, s.Environment, v, "%s gets %s", name, v)
		}
		require.Equal(t, "${DC_STORAGE:-s3}", s.Environment["DC_STORAGE"], "the bucket by default, the volume on request")
		require.Equal(t, "true", s.Environment["DC_S3_PROXY"], "the bucket's compose address is not the client's")
	}
	require.Empty(t, c.Services["worker"].Environment["DC_HTTP_ADDR"], "workers serve no HTTP")
	require.Equal(t, []any{"CMD", "/dc-api", "healthcheck"}, c.Services["api"].Healthcheck["test"],
		"the api image probes itself (TestHealthcheckCommand in cmd/api)")
}

// manifests reads every object of the YAML files in dir by kind/name.
func manifests(t *testing.T, dir string) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
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
	return kinds
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	kinds := manifests(t, "k8s")
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
	require.Equal(t, "/readyz", api["readinessProbe"].(map[string]any)["httpGet"].(map[string]any)["path"])
	require.Equal(t, "/healthz", api["livenessProbe"].(map[string]any)["httpGet"].(map[string]any)["path"])
	worker := pod("download-center-worker")
	require.Greater(t, worker["terminationGracePeriodSeconds"], 30, "longer than DC_SHUTDOWN_GRACE")
	wc := worker["containers"].([]any)[0].(map[string]any)
	require.Equal(t, "/readyz", wc["readinessProbe"].(map[string]any)["httpGet"].(map[string]any)["path"])
	require.Equal(t, "/healthz", wc["livenessProbe"].(map[string]any)["httpGet"].(map[string]any)["path"])
	cfg := kinds["ConfigMap/download-center"]["data"].(map[string]any)
	require.Equal(t, "30s", cfg["DC_SHUTDOWN_GRACE"])
}

// TestKubernetesS3Variant: the manifests of k8s/s3 are those of k8s with
// the files in a bucket: the same Deployments less the shared volume, no
// volume claim, and the S3 settings.
func TestKubernetesS3Variant(t *testing.T) {
	t.Parallel()
	base, s3 := manifests(t, "k8s"), manifests(t, "k8s/s3")
	require.NotContains(t, s3, "PersistentVolumeClaim/download-center-files")
	for _, k := range []string{"Deployment/download-center-api", "Deployment/download-center-worker", "Service/download-center-api"} {
		require.Contains(t, s3, k)
		want := base[k]
		if spec, ok := want["spec"].(map[string]any)["template"].(map[string]any); ok {
			pod := spec["spec"].(map[string]any)
			delete(pod, "volumes")
			for _, c := range pod["containers"].([]any) {
				delete(c.(map[string]any), "volumeMounts")
			}
		}
		require.Equal(t, want, s3[k], "%s is the base's less the volume", k)
	}
	cfg := s3["ConfigMap/download-center"]["data"].(map[string]any)
	require.Equal(t, "s3", cfg["DC_STORAGE"])
	require.NotEmpty(t, cfg["DC_S3_BUCKET"])
	require.NotContains(t, cfg, "DC_STORAGE_DIR")
	secret := s3["Secret/download-center"]["stringData"].(map[string]any)
	for _, v := range []string{"DC_MYSQL_DSN", "DC_S3_ACCESS_KEY", "DC_S3_SECRET_KEY"} {
		require.Contains(t, secret, v)
	}
	baseCfg := base["ConfigMap/download-center"]["data"].(map[string]any)
	for k, v := range baseCfg {
		if k != "DC_STORAGE_DIR" {
			require.Equal(t, v, cfg[k], "%s as in the base", k)
		}
	}
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

// TestObservabilityFiles: the dashboard and the alert rules parse and
// use only metrics the processes export (names checked against infra/prom).
func TestObservabilityFiles(t *testing.T) {
	t.Parallel()
	exported := regexp.MustCompile(`Name: "(dc_[a-z_]+)"`)
	src, err := os.ReadFile("../infra/prom/metrics.go")
	require.NoError(t, err)
	known := map[string]bool{}
	for _, m := range exported.FindAllSubmatch(src, -1) {
		known[string(m[1])] = true
	}
	require.Contains(t, known, "dc_oldest_waiting_task_age_seconds")
	used := regexp.MustCompile(`\bdc_[a-z_]+`)
	check := func(file, expr string) {
		for _, m := range used.FindAllString(expr, -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")
			require.True(t, known[base], "%s uses %s, which no process exports", file, m)
		}
	}
	b, err := os.ReadFile("observability/grafana/dashboards/download-center.json")
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	require.NotEmpty(t, dash.Panels)
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			check("dashboard", tg.Expr)
		}
	}
	b, err = os.ReadFile("observability/alerts.yml")
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(b, &rules))
	names := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			names[r.Alert] = true
			check("alerts", r.Expr)
		}
	}
	for _, a := range []string{"DownloadCenterBacklogTooOld", "DownloadCenterFailureRatioHigh", "DownloadCenterNoReadyWorker"} {
		require.True(t, names[a], a)
	}
	c, err := os.ReadFile("../docker-compose.yml")
	require.NoError(t, err)
	var compose struct {
		Services map[string]struct {
			Profiles []string `yaml:"profiles"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(c, &compose))
	for _, s := range []string{"prometheus", "grafana"} {
		require.Equal(t, []string{"observability"}, compose.Services[s].Profiles, s)
	}
}
