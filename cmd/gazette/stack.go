package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/gazette-news/gazette/internal/localstack"
)

func init() {
	commands["stack"] = command{
		summary: "local stack: provision | serve | invoke | status (see infra/stack.sh)",
		run:     runStack,
	}
}

const stackUsage = `usage:
  gazette stack provision [--template template.yaml] [--param Key=Value]... [--state out/stack] [--stack-name gazette]
  gazette stack serve [--bin out/bin] [--state out/stack] [--rie PATH]
  gazette stack invoke [--state out/stack] LogicalId EVENT.json   (EVENT "-" reads stdin)
  gazette stack status [--state out/stack]

Ports come from GAZETTE_MOTO_PORT (5000), GAZETTE_SES_PORT (8005), GAZETTE_API_PORT (3000),
GAZETTE_LAMBDA_PORT (3001), GAZETTE_RIE_PORT_BASE (9100), GAZETTE_RIE_API_PORT_BASE (9200).
Usually run through infra/stack.sh up|down|status (make stack-up / stack-down).
`

func runStack(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, stackUsage)
		return 2
	}
	var err error
	switch args[0] {
	case "provision":
		err = stackProvision(ctx, args[1:], stdout, stderr)
	case "serve":
		err = stackServe(ctx, args[1:], stderr)
	case "invoke":
		err = stackInvoke(ctx, args[1:], stdout, stderr)
	case "status":
		err = stackStatus(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, stackUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "gazette stack: unknown subcommand %q\n\n%s", args[0], stackUsage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var usageErr usageError
	if errors.As(err, &usageErr) {
		fmt.Fprintf(stderr, "gazette stack %s: %v\n\n%s", args[0], err, stackUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "gazette stack %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

type usageError struct{ error }

// paramFlag collects repeated --param Key=Value flags.
type paramFlag map[string]string

func (p paramFlag) String() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k+"="+p[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (p paramFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want Key=Value, got %q", s)
	}
	p[k] = v
	return nil
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gazette stack "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func envPort(name string, def int) int {
	if n, ok := portFromEnv(name); ok {
		return n
	}
	return def
}

// portFromEnv is $name as a number, if it is set to one.
func portFromEnv(name string) (int, bool) {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n, true
		}
	}
	return 0, false
}

// endpointsFromEnv builds the endpoints from the same variables infra/stack.sh
// exports, so that every part of the stack agrees on the ports; a port not
// set keeps localstack.DefaultEndpoints'.
func endpointsFromEnv() localstack.Endpoints {
	e := localstack.DefaultEndpoints()
	port := func(env string, url *string) {
		if n, ok := portFromEnv(env); ok {
			*url = fmt.Sprintf("http://127.0.0.1:%d", n)
		}
	}
	port("GAZETTE_MOTO_PORT", &e.AWS)
	port("GAZETTE_SES_PORT", &e.SESv2)
	port("GAZETTE_API_PORT", &e.HTTPAPI)
	port("GAZETTE_LAMBDA_PORT", &e.Lambda)
	return e
}

func jsonLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}

func stackProvision(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("provision", stderr)
	tmpl := fs.String("template", "template.yaml", "SAM template to provision from")
	state := fs.String("state", "out/stack", "directory for stack.json")
	stackName := fs.String("stack-name", localstack.DefaultStackName, "stack name (prefix of physical names)")
	region := fs.String("region", localstack.DefaultRegion, "region")
	params := paramFlag{}
	fs.Var(params, "param", "parameter override Key=Value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	t, err := localstack.LoadTemplate(*tmpl)
	if err != nil {
		return err
	}
	st, err := localstack.Provision(ctx, localstack.ProvisionOptions{
		Template: t, StackName: *stackName, Region: *region, Params: params,
		Endpoints: endpointsFromEnv(), Logger: jsonLogger(stderr),
	})
	if err != nil {
		return err
	}
	if err := st.Write(*state); err != nil {
		return err
	}
	created, skipped := 0, 0
	for _, r := range st.Resources {
		if r.Skipped != "" {
			skipped++
		} else {
			created++
		}
	}
	fmt.Fprintf(stdout, "provisioned stack %s: %d resources ready, %d not emulated (see log), %d functions; wrote %s\n",
		st.StackName, created, skipped, len(st.Functions), filepath.Join(*state, "stack.json"))
	return nil
}

func stackServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	bin := fs.String("bin", "out/bin", "directory holding <folder>/bootstrap for each function")
	state := fs.String("state", "out/stack", "directory of stack.json; function logs go to its logs/")
	rie := fs.String("rie", localstack.RIEPath(), "aws-lambda-rie binary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	st, err := localstack.ReadStack(filepath.Join(*state, "stack.json"))
	if err != nil {
		return err
	}
	srv, err := localstack.NewServer(localstack.ServeOptions{
		Stack: st, BinDir: *bin, RIEPath: *rie, LogDir: filepath.Join(*state, "logs"),
		Logger:         jsonLogger(stderr),
		RIEPortBase:    envPort("GAZETTE_RIE_PORT_BASE", 9100),
		RIEAPIPortBase: envPort("GAZETTE_RIE_API_PORT_BASE", 9200),
	})
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

func stackInvoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("invoke", stderr)
	state := fs.String("state", "out/stack", "directory of stack.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageError{errors.New("want LogicalId EVENT.json")}
	}
	var (
		payload []byte
		err     error
	)
	if fs.Arg(1) == "-" {
		payload, err = io.ReadAll(os.Stdin)
	} else {
		payload, err = os.ReadFile(fs.Arg(1))
	}
	if err != nil {
		return fmt.Errorf("read event: %w", err)
	}
	st, err := localstack.ReadStack(filepath.Join(*state, "stack.json"))
	if err != nil {
		return err
	}
	out, err := st.Invoke(ctx, fs.Arg(0), payload)
	if len(out) > 0 {
		fmt.Fprintf(stdout, "%s\n", strings.TrimSpace(string(out)))
	}
	return err
}

func stackStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	state := fs.String("state", "out/stack", "directory of stack.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := localstack.ReadStack(filepath.Join(*state, "stack.json"))
	if err != nil {
		return err
	}
	status, err := st.Status(ctx)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(status, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return nil
}
