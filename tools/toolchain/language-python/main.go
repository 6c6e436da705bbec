// Command pulumi-language-python is the project's Python language host for the Pulumi CLI.
//
// Upstream's host lives in the untagged Go module
// github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3, which the Go module proxy reachable
// here does not serve (see docs/toolchain.md for the commands and the 403 they return). This host speaks the
// same LanguageRuntime protocol, built on the sdk/v3 module of the CLI's own release: it resolves the
// project's virtualenv with the SDK's python/toolchain package and runs the program through upstream's
// pulumi-language-python-exec script, installed beside this binary. It implements what `pulumi up`,
// `preview`, `destroy`, policy packs (RunPlugin) and `pulumi about` use; code generation, templates and
// packing answer Unimplemented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// exitCodeMessageShown is the exec script's exit code after it has reported the error to the user itself.
const exitCodeMessageShown = 32

// requiredPackagesScript lists the resource plugins that the installed Python packages declare in their
// pulumi-plugin.json files, which is how Pulumi's Python SDKs announce the provider they need.
const requiredPackagesScript = `
import importlib.metadata, json
found = {}
for dist in importlib.metadata.distributions():
    for path in dist.files or []:
        if path.name != "pulumi-plugin.json":
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("resource") and data.get("name"):
            found[data["name"]] = {"name": data["name"], "version": data.get("version", ""),
                                   "server": data.get("server", "")}
print(json.dumps(sorted(found.values(), key=lambda p: p["name"])))
`

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
	execScript    string
}

func main() {
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	h := &host{execScript: filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")}
	// The CLI passes the engine's address as the last argument (it also sends it in Handshake).
	if args := os.Args[1:]; len(args) > 0 {
		h.engineAddress = args[len(args)-1]
	}
	cancel := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fail(err)
	}
	// The CLI reads the port from the first line of stdout.
	fmt.Println(handle.Port)
	if err := <-handle.Done; err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
	os.Exit(1)
}

func (h *host) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.EngineAddress
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// pythonToolchain resolves the virtualenv and package manager named by the project's runtime options.
func pythonToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	if info == nil {
		return nil, status.Error(codes.InvalidArgument, "the request carries no program info")
	}
	opts := toolchain.PythonOptions{Root: info.RootDirectory, ProgramDir: info.ProgramDirectory}
	options := info.Options.AsMap()
	if v, ok := options["virtualenv"].(string); ok {
		opts.Virtualenv = v
	}
	switch options["toolchain"] {
	case nil, "", "pip":
		opts.Toolchain = toolchain.Pip
	case "uv":
		opts.Toolchain = toolchain.Uv
	case "poetry":
		opts.Toolchain = toolchain.Poetry
	default:
		return nil, fmt.Errorf("unsupported Python toolchain %v in Pulumi.yaml", options["toolchain"])
	}
	switch options["typechecker"] {
	case nil, "":
	case "mypy":
		opts.Typechecker = toolchain.TypeCheckerMypy
	case "pyright":
		opts.Typechecker = toolchain.TypeCheckerPyright
	default:
		return nil, fmt.Errorf("unsupported Python typechecker %v in Pulumi.yaml", options["typechecker"])
	}
	return toolchain.ResolveToolchain(opts)
}

func (h *host) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	tc, err := pythonToolchain(req.Info)
	if err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, "-c", requiredPackagesScript)
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the Python packages' Pulumi plugins: %w", commandError(err))
	}
	var plugins []struct{ Name, Version, Server string }
	if err := json.Unmarshal(out, &plugins); err != nil {
		return nil, fmt.Errorf("reading the Python packages' Pulumi plugins: %w", err)
	}
	resp := &pulumirpc.GetRequiredPackagesResponse{}
	for _, p := range plugins {
		version := p.Version
		if version != "" && !strings.HasPrefix(version, "v") {
			version = "v" + version
		}
		resp.Packages = append(resp.Packages, &pulumirpc.PackageDependency{
			Kind: "resource", Name: p.Name, Version: version, Server: p.Server,
		})
	}
	return resp, nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := pythonToolchain(req.Info)
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	config, err := json.Marshal(req.Config)
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(req.ConfigSecretKeys)
	if err != nil {
		return nil, err
	}
	args := []string{
		"-u", h.execScript,
		"--monitor", req.MonitorAddress,
		"--engine", h.engineAddress,
		"--project", req.Project,
		"--stack", req.Stack,
		"--pwd", req.Pwd,
		"--parallel", strconv.Itoa(int(req.Parallel)),
		"--organization", req.Organization,
		"--root_directory", req.Info.RootDirectory,
	}
	if req.DryRun {
		args = append(args, "--dry_run", "true")
	}
	program := filepath.Join(req.Info.ProgramDirectory, req.Info.EntryPoint)
	args = append(append(args, program), req.Args...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, err
	}
	cmd.Dir = req.Pwd
	cmd.Env = append(environment(cmd.Env),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
		"PULUMI_PROJECT="+req.Project,
		"PULUMI_STACK="+req.Stack,
		"PULUMI_DRY_RUN="+strconv.FormatBool(req.DryRun),
		"PULUMI_ORGANIZATION="+req.Organization,
	)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if exit.ExitCode() == exitCodeMessageShown {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("program exited with non-zero exit code: %d", exit.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run the Python program: %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// RunPlugin runs a plugin written in Python, such as a policy pack, in its own virtualenv and streams its
// output back to the CLI (the policy pack prints the port of its analyzer server on stdout).
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	tc, err := pythonToolchain(req.Info)
	if err != nil {
		return err
	}
	program := filepath.Join(req.Info.ProgramDirectory, req.Info.EntryPoint)
	cmd, err := tc.Command(server.Context(), append([]string{"-u", program}, req.Args...)...)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	cmd.Dir = req.Pwd
	// The plugin gets the environment the CLI chose, with the virtualenv activated on top of it.
	cmd.Env = req.Env
	if venv, verr := tc.VirtualEnvPath(server.Context()); verr == nil && venv != "" {
		cmd.Env = toolchain.ActivateVirtualEnv(cmd.Env, venv)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok {
				return server.Send(&pulumirpc.RunPluginResponse{
					Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(ws.ExitStatus())},
				})
			}
		}
		return fmt.Errorf("running the Python plugin %s: %w", program, err)
	}
	return closer.Close()
}

func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	tc, err := pythonToolchain(req.Info)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.IsTerminal)
	if err != nil {
		return err
	}
	defer closer.Close()
	ctx := server.Context()
	if err := tc.InstallDependencies(ctx, req.Directory, req.UseLanguageVersionTools, true, stdout, stderr); err != nil {
		return err
	}
	return closer.Close()
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := pythonToolchain(req.Info)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: info.PythonExecutable, Version: info.PythonVersion.String()}, nil
}

func (h *host) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := pythonToolchain(req.Info)
	if err != nil {
		return nil, err
	}
	packages, err := tc.ListPackages(ctx, req.TransitiveDependencies)
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, p := range packages {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return resp, nil
}

func (h *host) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// environment is the command's environment, or this process's when the toolchain left it unset.
func environment(env []string) []string {
	if env == nil {
		return os.Environ()
	}
	return env
}

func commandError(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(exit.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(exit.Stderr)))
	}
	return err
}
