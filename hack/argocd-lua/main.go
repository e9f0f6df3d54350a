// argocd-lua evaluates resource health the way Argo CD's application controller does:
// the health checks come from an argocd-cm ConfigMap read by Argo CD's own settings code
// (util/settings), become lua.ResourceHealthOverrides, and gitops-engine's
// health.GetResourceHealth runs them in Argo CD's Lua VM (util/lua: package, base, table and
// a reduced os; no string, no math, unless the ConfigMap sets useOpenLibs).
//
// Usage:
//
//	argocd-lua (--argocd-cm FILE | --check DIR) --test FILE
//	argocd-lua (--argocd-cm FILE | --check DIR) RESOURCE...
//
// --argocd-cm reads the checks from an argocd-cm ConfigMap (or a patch of it).
// --check DIR reads DIR/health.lua, a check in the layout of Argo CD's
// resource_customizations/<group>/<kind>/ folders, and registers it for <group>/<kind> as
// the ConfigMap key resource.customizations.health.<group>_<kind> would.
//
// --test runs an Argo CD health_test.yaml (inputPath relative to the file, expected
// healthStatus compared exactly). Either way one JSON object per resource is printed:
// {"input", "status", "message"} plus "error" when the check failed, and "expected" and "ok"
// with --test. The exit code is 1 when a test does not match or a check fails, 2 on bad usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	appv1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
	"github.com/argoproj/gitops-engine/pkg/health"
	log "github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

const argocdNamespace = "argocd"

type result struct {
	Input    string                  `json:"input"`
	Status   health.HealthStatusCode `json:"status"`
	Message  string                  `json:"message"`
	Error    string                  `json:"error,omitempty"`
	Expected *health.HealthStatus    `json:"expected,omitempty"`
	OK       *bool                   `json:"ok,omitempty"`
}

// healthTest is the format of Argo CD's resource_customizations/*/*/health_test.yaml.
type healthTest struct {
	Tests []struct {
		InputPath    string              `json:"inputPath"`
		HealthStatus health.HealthStatus `json:"healthStatus"`
	} `json:"tests"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("argocd-lua", flag.ContinueOnError)
	flags.SetOutput(stderr)
	cmFile := flags.String("argocd-cm", "", "argocd-cm ConfigMap (or patch) holding resource.customizations.health.* keys")
	checkDir := flags.String("check", "", "folder holding health.lua, named <group>/<kind> as in Argo CD's resource_customizations")
	testFile := flags.String("test", "", "an Argo CD health_test.yaml to run")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if (*cmFile == "") == (*checkDir == "") || (*testFile == "") == (flags.NArg() == 0) {
		fmt.Fprintln(stderr, "usage: argocd-lua (--argocd-cm FILE | --check DIR) (--test health_test.yaml | RESOURCE...)")
		return 2
	}
	// Argo CD's settings code logs at info level; only errors matter here.
	log.SetLevel(log.WarnLevel)
	log.SetOutput(stderr)

	cm, err := configMap(*cmFile, *checkDir)
	if err != nil {
		fmt.Fprintf(stderr, "argocd-lua: %v\n", err)
		return 2
	}
	overrides, err := resourceOverrides(cm)
	if err != nil {
		fmt.Fprintf(stderr, "argocd-lua: Argo CD refused the ConfigMap: %v\n", err)
		return 2
	}
	healthOverrides := lua.ResourceHealthOverrides(overrides)

	encoder := json.NewEncoder(stdout)
	failed := false
	emit := func(r result) {
		if r.Error != "" || (r.OK != nil && !*r.OK) {
			failed = true
		}
		if err := encoder.Encode(r); err != nil {
			fmt.Fprintf(stderr, "argocd-lua: %v\n", err)
			failed = true
		}
	}

	if *testFile != "" {
		var tests healthTest
		if err := readYAML(*testFile, &tests); err != nil {
			fmt.Fprintf(stderr, "argocd-lua: %v\n", err)
			return 2
		}
		if len(tests.Tests) == 0 {
			fmt.Fprintf(stderr, "argocd-lua: %s holds no tests\n", *testFile)
			return 2
		}
		dir := filepath.Dir(*testFile)
		for _, t := range tests.Tests {
			expected := t.HealthStatus
			r := evaluate(filepath.Join(dir, t.InputPath), healthOverrides)
			r.Input = t.InputPath
			ok := r.Error == "" && r.Status == expected.Status && r.Message == expected.Message
			r.Expected = &expected
			r.OK = &ok
			emit(r)
		}
	} else {
		for _, path := range flags.Args() {
			emit(evaluate(path, healthOverrides))
		}
	}
	if failed {
		return 1
	}
	return 0
}

// configMap is the argocd-cm to load: the file given, or one holding DIR/health.lua under
// the key Argo CD's documentation gives for <group>/<kind>.
func configMap(cmFile, checkDir string) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{}
	if cmFile != "" {
		if err := readYAML(cmFile, cm); err != nil {
			return nil, err
		}
		if cm.Kind != "ConfigMap" || cm.Name != "argocd-cm" {
			return nil, fmt.Errorf("%s is a %s named %q, not the ConfigMap argocd-cm", cmFile, cm.Kind, cm.Name)
		}
	} else {
		abs, err := filepath.Abs(checkDir)
		if err != nil {
			return nil, err
		}
		script, err := os.ReadFile(filepath.Join(abs, "health.lua"))
		if err != nil {
			return nil, err
		}
		kind := filepath.Base(abs)
		group := filepath.Base(filepath.Dir(abs))
		cm.Data = map[string]string{"resource.customizations.health." + group + "_" + kind: string(script)}
	}
	// Argo CD reads argocd-cm from its own namespace, and only with this label.
	cm.Namespace = argocdNamespace
	cm.Name = "argocd-cm"
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	if cm.Labels["app.kubernetes.io/part-of"] != "argocd" {
		if cmFile != "" {
			return nil, fmt.Errorf("%s lacks the label app.kubernetes.io/part-of: argocd, without which Argo CD ignores it", cmFile)
		}
		cm.Labels["app.kubernetes.io/part-of"] = "argocd"
	}
	return cm, nil
}

// resourceOverrides reads the ConfigMap through Argo CD's settings manager, as the
// application controller does, from an in-memory API server.
func resourceOverrides(cm *corev1.ConfigMap) (map[string]appv1.ResourceOverride, error) {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "argocd-secret",
			Namespace: argocdNamespace,
			Labels:    map[string]string{"app.kubernetes.io/part-of": "argocd"},
		},
	}
	clientset := fake.NewClientset(cm, secret)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	return settings.NewSettingsManager(ctx, clientset, argocdNamespace).GetResourceOverrides()
}

// evaluate runs the health checks on one resource as the application controller does.
func evaluate(path string, overrides lua.ResourceHealthOverrides) result {
	r := result{Input: path}
	obj := &unstructured.Unstructured{}
	if err := readYAML(path, &obj.Object); err != nil {
		r.Error = err.Error()
		return r
	}
	status, err := health.GetResourceHealth(obj, overrides)
	if err != nil {
		r.Error = err.Error()
	}
	if status == nil {
		if err == nil {
			r.Error = "no health check applies to this resource"
		}
		return r
	}
	r.Status = status.Status
	r.Message = status.Message
	return r
}

func readYAML(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
