package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
)

// The part of the batch/v1 CronJob schema the recipe uses; the recipe is
// decoded with unknown fields refused, so a misspelt field (which
// Kubernetes would drop with a warning) fails the test.
type (
	k8sCronJob struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			Schedule          string `yaml:"schedule"`
			ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
			JobTemplate       struct {
				Spec k8sJobSpec `yaml:"spec"`
			} `yaml:"jobTemplate"`
		} `yaml:"spec"`
	}
	k8sJobSpec struct {
		CompletionMode       string `yaml:"completionMode"`
		Completions          int    `yaml:"completions"`
		Parallelism          int    `yaml:"parallelism"`
		BackoffLimit         *int   `yaml:"backoffLimit"`
		BackoffLimitPerIndex *int   `yaml:"backoffLimitPerIndex"`
		MaxFailedIndexes     *int   `yaml:"maxFailedIndexes"`
		PodFailurePolicy     *struct {
			Rules []k8sPodFailureRule `yaml:"rules"`
		} `yaml:"podFailurePolicy"`
		Template struct {
			Spec k8sPodSpec `yaml:"spec"`
		} `yaml:"template"`
	}
	k8sPodFailureRule struct {
		Action      string `yaml:"action"`
		OnExitCodes *struct {
			ContainerName string `yaml:"containerName"`
			Operator      string `yaml:"operator"`
			Values        []int  `yaml:"values"`
		} `yaml:"onExitCodes"`
		OnPodConditions []struct {
			Type   string `yaml:"type"`
			Status string `yaml:"status"`
		} `yaml:"onPodConditions"`
	}
	k8sPodSpec struct {
		RestartPolicy                 string         `yaml:"restartPolicy"`
		TerminationGracePeriodSeconds int            `yaml:"terminationGracePeriodSeconds"`
		Containers                    []k8sContainer `yaml:"containers"`
		Volumes                       []struct {
			Name   string `yaml:"name"`
			Secret struct {
				SecretName  string `yaml:"secretName"`
				DefaultMode int    `yaml:"defaultMode"`
			} `yaml:"secret"`
		} `yaml:"volumes"`
	}
	k8sContainer struct {
		Name    string   `yaml:"name"`
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
)

// k8sRecipe decodes the CronJob of docs/operations.md.
func k8sRecipe(t *testing.T) k8sCronJob {
	t.Helper()
	var found []k8sCronJob
	for _, b := range codeBlocks(t, "../../docs/operations.md") {
		if b.lang != "yaml" || !strings.Contains(b.body, "kind: CronJob") {
			continue
		}
		var cj k8sCronJob
		dec := yaml.NewDecoder(strings.NewReader(b.body))
		dec.KnownFields(true)
		if err := dec.Decode(&cj); err != nil {
			t.Fatalf("docs/operations.md:%d: the CronJob does not decode as batch/v1: %v", b.line, err)
		}
		found = append(found, cj)
	}
	if len(found) != 1 {
		t.Fatalf("docs/operations.md holds %d CronJob blocks, want 1", len(found))
	}
	return found[0]
}

// podFailureAction is what the Job controller does with a failed pod
// whose container ended with exit (disrupted: the pod carries the
// DisruptionTarget condition): the action of the first rule of the
// podFailurePolicy that matches, in order, else Count (batch/v1
// PodFailurePolicy: onExitCodes In/NotIn over the container's exit code,
// onPodConditions over the pod's conditions).
func podFailureAction(js k8sJobSpec, container string, exit int, disrupted bool) string {
	if js.PodFailurePolicy == nil {
		return "Count"
	}
	for _, r := range js.PodFailurePolicy.Rules {
		if c := r.OnExitCodes; c != nil {
			if c.ContainerName != "" && c.ContainerName != container {
				continue
			}
			in := slices.Contains(c.Values, exit)
			if (c.Operator == "In" && in) || (c.Operator == "NotIn" && !in && exit != 0) {
				return r.Action
			}
		}
		for _, pc := range r.OnPodConditions {
			if pc.Type == "DisruptionTarget" && disrupted && (pc.Status == "" || pc.Status == "True") {
				return r.Action
			}
		}
	}
	return "Count"
}

// TestKubernetesRecipeLetsEachShardFailAlone reads the CronJob of
// docs/operations.md as Kubernetes would and checks that no vmlua exit
// status of one shard can fail the whole Job (which terminates the other
// shards' running pods): an Indexed Job with backoffLimitPerIndex and no
// global backoffLimit, whose podFailurePolicy sends 6 (nothing selected)
// and 7 (partial) to FailIndex, never FailJob or Ignore for an exit code
// (Ignore re-creates the pod, which would exit the same way again), and
// Ignore for a disruption. The recipe used backoffLimit: 0 and no policy.
func TestKubernetesRecipeLetsEachShardFailAlone(t *testing.T) {
	cj := k8sRecipe(t)
	js := cj.Spec.JobTemplate.Spec
	pod := js.Template.Spec
	if cj.APIVersion != "batch/v1" || cj.Kind != "CronJob" || cj.Spec.ConcurrencyPolicy != "Forbid" {
		t.Errorf("apiVersion %q kind %q concurrencyPolicy %q, want batch/v1 CronJob Forbid (one night's run never overlaps the next)", cj.APIVersion, cj.Kind, cj.Spec.ConcurrencyPolicy)
	}
	if js.CompletionMode != "Indexed" || js.Completions < 2 || js.Parallelism != js.Completions {
		t.Errorf("completionMode %q, completions %d, parallelism %d: want an Indexed Job running every shard at once", js.CompletionMode, js.Completions, js.Parallelism)
	}
	if js.BackoffLimitPerIndex == nil {
		t.Error("no backoffLimitPerIndex: a failed shard counts against the whole Job")
	}
	if js.BackoffLimit != nil {
		t.Errorf("backoffLimit: %d: the Job fails, and Kubernetes terminates every running shard, once more pods than that failed (leave it out: with backoffLimitPerIndex it is unlimited)", *js.BackoffLimit)
	}
	if js.MaxFailedIndexes != nil && *js.MaxFailedIndexes < js.Completions {
		t.Errorf("maxFailedIndexes: %d < %d shards: failed shards would terminate the others", *js.MaxFailedIndexes, js.Completions)
	}
	if pod.RestartPolicy != "Never" {
		t.Errorf("restartPolicy %q: podFailurePolicy and backoffLimitPerIndex need Never", pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if js.PodFailurePolicy != nil {
		for _, r := range js.PodFailurePolicy.Rules {
			if r.OnExitCodes != nil && slices.Contains(r.OnExitCodes.Values, 0) && r.OnExitCodes.Operator == "In" {
				t.Errorf("a rule matches exit code 0 with In, which the API refuses")
			}
			if r.OnExitCodes != nil && r.OnExitCodes.ContainerName != "" && r.OnExitCodes.ContainerName != c.Name {
				t.Errorf("a rule names container %q, the pod's is %q", r.OnExitCodes.ContainerName, c.Name)
			}
		}
	}
	for exit := range documentedStatuses(t) {
		if exit == 0 {
			continue
		}
		switch a := podFailureAction(js, c.Name, exit, false); {
		case a == "FailJob":
			t.Errorf("exit %d: FailJob terminates every other shard", exit)
		case a == "Ignore":
			t.Errorf("exit %d: Ignore re-creates the pod, which ends the same way, again and again", exit)
		case (exit == exitNothingSelected || exit == exitPartial) && a != "FailIndex":
			t.Errorf("exit %d: action %s, want FailIndex (a retry does not change it; the other shards go on)", exit, a)
		case a != "FailIndex" && a != "Count":
			t.Errorf("exit %d: unknown action %q", exit, a)
		}
	}
	if a := podFailureAction(js, c.Name, exitCanceled, true); a != "Ignore" {
		t.Errorf("an evicted or preempted pod (SIGTERM, then the DisruptionTarget condition): %s, want Ignore (run the shard again)", a)
	}
	cmd := strings.Join(c.Args, " ")
	for _, want := range []string{"--each=", "--allow-empty", fmt.Sprintf("--shard=$((JOB_COMPLETION_INDEX + 1))/%d", js.Completions)} {
		if !strings.Contains(cmd, want) {
			t.Errorf("the command lacks %s: %s", want, cmd)
		}
	}
}

// TestKubernetesRecipeRunsEveryShardAgainstTheSimulator runs the recipe's
// command once per index, all at once as the Job's parallelism does, as
// the pod would: /bin/sh -c with JOB_COMPLETION_INDEX set, vmlua and the
// shipped scripts where 'make install' puts them (the Makefile's own
// install recipe, read with make -n, decides; the image's root is a
// folder here), the config as the Secret mounts it (its defaultMode), the
// target an SFTP server on loopback with the recipe's credentials name.
// Two powered-on VMs in three shards: at least one shard is empty and
// ends 0 (--allow-empty), every powered-on VM is backed up exactly once,
// the powered-off one not at all.
func TestKubernetesRecipeRunsEveryShardAgainstTheSimulator(t *testing.T) {
	cj := k8sRecipe(t)
	js := cj.Spec.JobTemplate.Spec
	pod := js.Template.Spec
	c := pod.Containers[0]

	// the image, as the Containerfile builds it: make install with its
	// PREFIX, vmlua in $PREFIX/bin, the scripts where make puts them
	root := t.TempDir()
	prefix := containerfilePrefix(t)
	script := scriptPathIn(t, c.Args)
	installed := makeInstallLayout(t, prefix, root)
	if !installed[script] {
		t.Fatalf("the recipe runs %s, which make install does not put there (it installs %v)", script, installed)
	}
	bin := filepath.Join(root, prefix, "bin", "vmlua")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	if err := os.Symlink(simtest.Binary(t), bin); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, filepath.Dir(script)), 0o755)
	src, err := os.ReadFile(filepath.Join("../../scripts", filepath.Base(script)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, script), src, 0o644); err != nil {
		t.Fatal(err)
	}

	// the fleet and the target
	s, err := vsim.Start(context.Background(), vsim.Options{Password: simtest.Password, Inventory: []vsim.VMSpec{
		{Name: "WEB1", Disks: []vsim.DiskSpec{{Size: 1 << 20}}},
		{Name: "WEB2", Disks: []vsim.DiskSpec{{Size: 1 << 20}}},
		{Name: "OLD1", Disks: []vsim.DiskSpec{{Size: 1 << 20}}, PoweredOff: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	srv := testservers.SSHD(t)
	target := srv.URL("sftp", "")
	const recipeTarget = "sftp://backup@nas.example.com/srv/backups"
	cmd := strings.Join(c.Args, " ")
	if !strings.Contains(cmd, "to="+recipeTarget+" ") || !strings.Contains(cmd, "credentials=nas") {
		t.Fatalf("the recipe's target is not %s with credentials=nas: %s", recipeTarget, cmd)
	}
	cmd = strings.ReplaceAll(cmd, recipeTarget, target)
	cmd = strings.ReplaceAll(cmd, " "+prefix+"/", " "+filepath.Join(root, prefix)+"/")

	// the Secret, mounted where the recipe mounts it, with its mode
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	cfgPath := env["VMLUA_CONFIG"]
	if len(c.VolumeMounts) != 1 || len(pod.Volumes) != 1 || !strings.HasPrefix(cfgPath, c.VolumeMounts[0].MountPath+"/") {
		t.Fatalf("VMLUA_CONFIG=%s is not in the Secret's mount %v", cfgPath, c.VolumeMounts)
	}
	u := *s.URL
	u.User = nil
	cfg := filepath.Join(root, cfgPath)
	os.MkdirAll(filepath.Dir(cfg), 0o755)
	body := fmt.Sprintf("default_vsphere = \"sim\"\n[vsphere.sim]\nurl = %q\nusername = %q\npassword = %q\ninsecure = true\n"+
		"[credentials.nas]\nuser = %q\nkey_file = %q\nhost_key = %q\n[grants]\nallow = [%q]\n",
		u.String(), s.URL.User.Username(), simtest.Password, srv.User.Name, srv.ClientKeyFile, srv.HostKeyFingerprint, target+"/")
	if err := os.WriteFile(cfg, []byte(body), os.FileMode(pod.Volumes[0].Secret.DefaultMode)); err != nil {
		t.Fatal(err)
	}

	type result struct {
		exit           int
		stdout, stderr string
	}
	results := make([]result, js.Completions)
	var wg sync.WaitGroup
	for i := range js.Completions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := exec.Command(c.Command[0], append(c.Command[1:], cmd)...)
			p.Env = append(os.Environ(), "JOB_COMPLETION_INDEX="+strconv.Itoa(i), "PATH="+filepath.Join(root, prefix, "bin")+":"+os.Getenv("PATH"), "VMLUA_CONFIG="+cfg)
			var out, errb bytes.Buffer
			p.Stdout, p.Stderr = &out, &errb
			results[i] = result{exitCode(p.Run()), out.String(), errb.String()}
		}()
	}
	wg.Wait()
	empty := 0
	for i, r := range results {
		if r.exit != exitOK {
			t.Errorf("index %d (shard %d/%d) exited %d\nstdout:\n%s\nstderr:\n%s", i, i+1, js.Completions, r.exit, r.stdout, r.stderr)
		}
		if strings.Contains(r.stderr, "no VM matches; nothing to do (--allow-empty)") {
			empty++
		}
	}
	if empty == 0 {
		t.Errorf("no shard was empty, with two VMs in %d shards", js.Completions)
	}
	sets := map[string]int{}
	for _, p := range simtest.Glob(t, filepath.Join(srv.DataDir, "*", "*", catalog.FileName)) {
		rel, _ := filepath.Rel(srv.DataDir, p)
		sets[strings.Split(rel, string(filepath.Separator))[0]]++
	}
	if sets["WEB1"] != 1 || sets["WEB2"] != 1 || len(sets) != 2 {
		t.Errorf("sets on the target by VM: %v, want one of WEB1 and one of WEB2", sets)
	}
}

// scriptPathIn is the script the recipe's command runs: the argument of
// vmlua run that ends in .lua.
func scriptPathIn(t *testing.T, args []string) string {
	t.Helper()
	m := regexp.MustCompile(`\s(/\S+\.lua)\s`).FindStringSubmatch(" " + strings.Join(args, " ") + " ")
	if m == nil {
		t.Fatalf("no absolute script path in the recipe's command %q", args)
	}
	return m[1]
}

// containerfilePrefix reads the Containerfile of docs/operations.md: the
// PREFIX its make install uses; and checks that it builds with the Go
// release go.mod names.
func containerfilePrefix(t *testing.T) string {
	t.Helper()
	for _, b := range codeBlocks(t, "../../docs/operations.md") {
		if b.lang != "dockerfile" {
			continue
		}
		gomod, err := os.ReadFile("../../go.mod")
		if err != nil {
			t.Fatal(err)
		}
		goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
		if goVer == nil || !strings.Contains(b.body, "FROM golang:"+string(goVer[1])+" ") {
			t.Errorf("docs/operations.md:%d: the Containerfile does not build with golang:%s, the release go.mod names", b.line, goVer[1])
		}
		m := regexp.MustCompile(`(?m)^RUN make install PREFIX=(/\S+) DESTDIR=/out$`).FindStringSubmatch(b.body)
		if m == nil || !strings.Contains(b.body, "COPY --from=build /out"+m[1]+"/ "+m[1]+"/") {
			t.Fatalf("docs/operations.md:%d: the Containerfile does not copy a make install into the image:\n%s", b.line, b.body)
		}
		return m[1]
	}
	t.Fatal("docs/operations.md has no Containerfile (a dockerfile block)")
	return ""
}

// makeInstallLayout reads what 'make install' copies where (make -n, with
// the image's PREFIX and DESTDIR=root) and returns the installed scripts
// as absolute paths in the image.
func makeInstallLayout(t *testing.T, prefix, root string) map[string]bool {
	t.Helper()
	out, err := exec.Command("make", "-s", "-n", "-C", "../..", "install", "PREFIX="+prefix, "DESTDIR="+root).CombinedOutput()
	if err != nil {
		t.Fatalf("make -n install: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "install" || !slices.Contains(f, "scripts/*.lua") {
			continue
		}
		dest := strings.TrimPrefix(f[len(f)-1], root)
		names, _ := filepath.Glob("../../scripts/*.lua")
		for _, n := range names {
			got[filepath.Join(dest, filepath.Base(n))] = true
		}
	}
	if len(got) == 0 {
		t.Fatalf("make -n install copies no scripts:\n%s", out)
	}
	return got
}
