package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Docker engine timing. A started dockerd answers within a second or two;
// stopping it stops its containers first (--shutdown-timeout) and then its
// containerd.
const (
	dockerStartTimeout = 60 * time.Second
	dockerStopGrace    = 30 * time.Second
	// dockerShutdownTimeout is dockerd's --shutdown-timeout: how long it
	// gives running containers at its own shutdown.
	dockerShutdownTimeout = 10
	// defaultDockerSock is the socket of a system engine, reused when it
	// answers.
	defaultDockerSock = "/var/run/docker.sock"
)

// Docker is a Docker engine for a test, with the docker and docker-compose
// CLIs that drive it.
type Docker struct {
	// Host is the engine's address, as DOCKER_HOST takes it.
	Host string
	// DockerBin and ComposeBin are the docker and docker-compose CLIs.
	DockerBin, ComposeBin string
	// Started reports whether the harness started this engine, and stops it
	// when the test ends; false when a running engine is reused.
	Started bool
	// Root holds a started engine's socket, data root, exec root, pid file,
	// configuration and log; empty for a reused engine.
	Root string

	proc *Process
}

// StartDocker returns a Docker engine: the one DOCKER_HOST names or the
// system's (/var/run/docker.sock) when it answers, otherwise a dockerd the
// harness starts as a child process, self-contained under a fresh directory:
// its own socket, data root, exec root (its containerd's too), pid file and
// an empty configuration file, no bridge and no iptables rules, so that
// containers run with host networking only. The started engine is stopped by
// PID when the test ends (SIGTERM, SIGKILL after a grace period), and the test
// fails if any process of it (containerd, a shim) outlives it.
//
// Without docker, docker-compose or (when none runs) dockerd, or without root
// to start one, the test is skipped, or fails under
// STEADYLOG_REQUIRE_INTEGRATION=1; scripts/install-docker.sh installs the
// engine.
func StartDocker(t testing.TB) *Docker {
	t.Helper()
	d := &Docker{}
	var err error
	if d.DockerBin, err = exec.LookPath("docker"); err != nil {
		Missing(t, "the docker CLI is not installed (scripts/install-docker.sh installs docker.io)")
		return nil
	}
	if d.ComposeBin, err = exec.LookPath("docker-compose"); err != nil {
		Missing(t, "docker-compose is not installed (apt-get install docker-compose)")
		return nil
	}

	var candidates []string
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		candidates = append(candidates, h)
	} else if fi, err := os.Stat(defaultDockerSock); err == nil && fi.Mode()&os.ModeSocket != 0 {
		candidates = append(candidates, "unix://"+defaultDockerSock)
	}
	for _, h := range candidates {
		d.Host = h
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, err := d.ServerVersion(ctx)
		cancel()
		if err == nil {
			t.Logf("harness: using the running Docker engine %s at %s", v, h)
			return d
		}
		t.Logf("harness: no Docker engine answers at %s: %v", h, err)
	}

	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		Missing(t, "no Docker engine runs and dockerd is not installed (scripts/install-docker.sh)")
		return nil
	}
	if os.Geteuid() != 0 {
		Missing(t, "no Docker engine runs, and starting dockerd needs root")
		return nil
	}
	// A short path: unix socket paths (containerd's, under the exec root)
	// are limited to 108 bytes.
	root, err := os.MkdirTemp("", "steadylog-dockerd-")
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	// Registered first, so it runs last: after the engine has stopped.
	t.Cleanup(func() { removeEngineRoot(t, root) })
	d.Root = root
	d.Host = "unix://" + filepath.Join(root, "docker.sock")
	config := filepath.Join(root, "daemon.json")
	if err := os.WriteFile(config, []byte("{}\n"), 0o644); err != nil {
		t.Fatalf("harness: %v", err)
	}
	proc, err := StartProcess(t, "dockerd", filepath.Join(root, "dockerd.log"), dockerd,
		"--config-file="+config, // not /etc/docker/daemon.json
		"--host="+d.Host,
		"--data-root="+filepath.Join(root, "data"),
		"--exec-root="+filepath.Join(root, "exec"),
		"--pidfile="+filepath.Join(root, "dockerd.pid"),
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--userland-proxy=false",
		fmt.Sprintf("--shutdown-timeout=%d", dockerShutdownTimeout),
	)
	if err != nil {
		t.Fatal(err)
	}
	d.proc = proc
	d.Started = true
	// Runs before StartProcess' own cleanup (LIFO), with a longer grace.
	t.Cleanup(func() { d.stop(t) })

	ctx, cancel := context.WithTimeout(context.Background(), dockerStartTimeout)
	defer cancel()
	var version string
	err = Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		if proc.Exited() {
			return false, fmt.Errorf("dockerd exited: %v", proc.ExitErr())
		}
		var err error
		version, err = d.ServerVersion(ctx)
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("harness: dockerd not ready: %v\n--- dockerd log ---\n%s", err, proc.LogTail(30))
	}
	t.Logf("harness: started dockerd %s (pid %d) at %s", version, proc.Pid(), d.Host)
	return d
}

// stop stops a started engine by PID and checks that nothing of it is left:
// dockerd stops its containers and its containerd, whose command lines name
// the engine's root, as the shims' do.
func (d *Docker) stop(t testing.TB) {
	start := time.Now()
	if err := d.proc.TerminateWithin(dockerStopGrace); err != nil {
		t.Errorf("harness: stopping dockerd (pid %d): %v\n--- dockerd log ---\n%s", d.proc.Pid(), err, d.proc.LogTail(30))
	}
	left, err := ProcessesMentioning(d.Root)
	if err != nil {
		t.Errorf("harness: %v", err)
	}
	for _, p := range left {
		t.Errorf("harness: process %d (%s) of the stopped engine is still running; sending SIGKILL", p.Pid, p.Cmdline)
		if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("harness: SIGKILL %d: %v", p.Pid, err)
		}
	}
	t.Logf("harness: dockerd (pid %d) stopped in %v", d.proc.Pid(), time.Since(start).Round(time.Millisecond))
}

// removeEngineRoot unmounts whatever the engine left mounted under root (its
// overlay layers, should it have died without cleaning up) and removes root.
func removeEngineRoot(t testing.TB, root string) {
	mounts, err := mountsUnder(root)
	if err != nil {
		t.Errorf("harness: %v", err)
	}
	for _, m := range mounts {
		t.Logf("harness: unmounting %s, left mounted by the stopped dockerd", m)
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Errorf("harness: unmount %s: %v", m, err)
		}
	}
	if err := os.RemoveAll(root); err != nil {
		t.Errorf("harness: removing the engine's directory: %v", err)
	}
}

// mountsUnder lists the mount points under dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		// Field 5 is the mount point, with spaces etc. octal-escaped.
		if mp := unescapeMountinfo(f[4]); strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Env returns the environment for the CLIs: the test's, with DOCKER_HOST
// naming this engine.
func (d *Docker) Env() []string {
	return append(os.Environ(), "DOCKER_HOST="+d.Host)
}

// Run runs the docker CLI with args against this engine and returns its
// stdout; an error carries stderr.
func (d *Docker) Run(ctx context.Context, args ...string) (string, error) {
	return run(ctx, d.Env(), d.DockerBin, args...)
}

// ServerVersion asks the engine for its version: the readiness probe.
func (d *Docker) ServerVersion(ctx context.Context) (string, error) {
	out, err := d.Run(ctx, "version", "--format", "{{.Server.Version}}")
	return strings.TrimSpace(out), err
}

// Build builds the image tag from the Dockerfile in dir, with dir as the
// (small) build context.
func (d *Docker) Build(ctx context.Context, tag, dir string) error {
	// The classic builder: the engine (20.10) serves it without the buildx
	// plugin.
	_, err := run(ctx, append(d.Env(), "DOCKER_BUILDKIT=0"), d.DockerBin, "build", "-q", "-t", tag, dir)
	return err
}

// Logs returns a container's log, stdout and stderr interleaved as the
// engine stored them, across all of its starts.
func (d *Docker) Logs(ctx context.Context, id string) (string, error) {
	cmd := exec.CommandContext(ctx, d.DockerBin, "logs", id)
	cmd.Env = d.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("harness: docker logs %s: %w\n%s", id, err, out)
	}
	return string(out), nil
}

// Inspect formats a container's (or another object's) details with a Go
// template, as docker inspect -f does.
func (d *Docker) Inspect(ctx context.Context, id, format string) (string, error) {
	out, err := d.Run(ctx, "inspect", "-f", format, id)
	return strings.TrimSpace(out), err
}

func run(ctx context.Context, env []string, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("harness: %s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Compose drives one docker-compose (v1) project on a Docker engine.
type Compose struct {
	Docker *Docker
	// Project is the compose project name (-p): unique per run.
	Project string
	// Dir is the project directory, against which the files' relative
	// paths resolve.
	Dir string
	// Files are the compose files (-f), in order: later ones override.
	Files []string
	// Env is added to the CLI's environment (variables the files
	// interpolate).
	Env []string
}

// Run runs docker-compose with args on the project and returns its stdout;
// an error carries stderr.
func (c *Compose) Run(ctx context.Context, args ...string) (string, error) {
	full := []string{"--ansi", "never", "-p", c.Project, "--project-directory", c.Dir}
	for _, f := range c.Files {
		full = append(full, "-f", f)
	}
	return run(ctx, append(c.Docker.Env(), c.Env...), c.Docker.ComposeBin, append(full, args...)...)
}

// ContainerID returns the ID of the service's container (created, running
// or stopped).
func (c *Compose) ContainerID(ctx context.Context, service string) (string, error) {
	out, err := c.Run(ctx, "ps", "-q", service)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(out)
	if id == "" || strings.Contains(id, "\n") {
		return "", fmt.Errorf("harness: service %s has %d containers, want 1", service, len(strings.Fields(id)))
	}
	return id, nil
}

// Logs returns the last lines of every service's log, for a failure report.
func (c *Compose) Logs(ctx context.Context, tail int) string {
	out, err := c.Run(ctx, "logs", "--no-color", fmt.Sprintf("--tail=%d", tail))
	if err != nil {
		return fmt.Sprintf("%s(%v)", out, err)
	}
	return out
}

// Down removes the project: its containers (stopped within 10 s), its
// networks, its volumes (anonymous ones included) and orphans.
func (c *Compose) Down(ctx context.Context) error {
	_, err := c.Run(ctx, "down", "--remove-orphans", "-v", "--timeout", "10")
	return err
}

// Leftovers lists the containers, networks and volumes that still carry the
// project's label, as "kind id" strings.
func (c *Compose) Leftovers(ctx context.Context) ([]string, error) {
	filter := "label=com.docker.compose.project=" + c.Project
	var out []string
	for _, q := range []struct{ kind, cmd string }{
		{"container", "ps"}, {"network", "network"}, {"volume", "volume"},
	} {
		args := []string{q.cmd, "ls", "-q", "--filter", filter}
		if q.kind == "container" {
			args = []string{"ps", "-a", "-q", "--filter", filter}
		}
		ids, err := c.Docker.Run(ctx, args...)
		if err != nil {
			return out, err
		}
		for _, id := range strings.Fields(ids) {
			out = append(out, q.kind+" "+id)
		}
	}
	return out, nil
}

// ProcInfo is a process seen in /proc.
type ProcInfo struct {
	Pid     int
	UID     int // real user ID
	Cmdline string
	// Cgroup is the content of /proc/PID/cgroup, which names the
	// container of a containerised process.
	Cgroup string
}

// Processes lists the processes whose /proc entries match: match gets each
// one and keeps it by returning true. Processes that exit while being read
// are skipped, as is the calling process.
func Processes(match func(ProcInfo) bool) ([]ProcInfo, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var out []ProcInfo
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == self || fmt.Sprint(pid) != e.Name() {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil {
			continue
		}
		cgroup, err := os.ReadFile(filepath.Join(dir, "cgroup"))
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil {
			continue
		}
		p := ProcInfo{
			Pid:     pid,
			UID:     -1,
			Cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")),
			Cgroup:  string(cgroup),
		}
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				_, _ = fmt.Sscanf(strings.TrimSpace(rest), "%d", &p.UID)
			}
		}
		if match(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// ProcessesMentioning lists the processes whose command line contains s (a
// started engine's root directory: its dockerd, containerd and shims).
func ProcessesMentioning(s string) ([]ProcInfo, error) {
	return Processes(func(p ProcInfo) bool { return strings.Contains(p.Cmdline, s) })
}

// ContainerProcesses lists the host processes that run inside the container
// with the given full ID (their cgroup path names it).
func ContainerProcesses(id string) ([]ProcInfo, error) {
	if len(id) < 12 {
		return nil, fmt.Errorf("harness: container ID %q is too short", id)
	}
	return Processes(func(p ProcInfo) bool { return strings.Contains(p.Cgroup, id) })
}

// PortsFree checks that every port can be listened on at host right now,
// and returns an error naming the busy ones.
func PortsFree(host string, ports ...int) error {
	var busy []string
	for _, port := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			busy = append(busy, err.Error())
			continue
		}
		_ = l.Close()
	}
	if len(busy) > 0 {
		return fmt.Errorf("harness: ports busy: %s", strings.Join(busy, "; "))
	}
	return nil
}
