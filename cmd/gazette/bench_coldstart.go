package main

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gazette-news/gazette/internal/localstack"
)

// hermesModule is the module whose weight the cold-start bench reports:
// the functions that render mail link it, the others do not.
const hermesModule = "github.com/matcornic/hermes"

// Payloads the cold-start bench invokes with. Each does as little as the
// function allows, so that the warm invocation is the handler's floor.
// publish-digest refuses its probe before doing anything: a real
// {"action":"publish"} would publish whatever articles are pending.
const (
	coldStartSQS     = `{"Records":[]}`
	coldStartHTTP    = `{"version":"2.0","routeKey":"$default","rawPath":"/coldstart-probe","headers":{},"requestContext":{"http":{"method":"GET","path":"/coldstart-probe"}}}`
	coldStartInvoked = `{"action":"coldstart-probe"}`
)

// coldStartPayload picks the probe for a function by how it is triggered.
func coldStartPayload(fn *localstack.Function) string {
	switch {
	case len(fn.HTTPRoutes) > 0:
		return coldStartHTTP
	case len(fn.SQSEvents) > 0:
		return coldStartSQS
	default:
		return coldStartInvoked
	}
}

// binaryFacts are a bootstrap's size and whether it links hermes.
type binaryFacts struct {
	Bytes  int64
	Hermes bool
}

func readBinaryFacts(path string) (binaryFacts, error) {
	st, err := os.Stat(path)
	if err != nil {
		return binaryFacts{}, err
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return binaryFacts{}, fmt.Errorf("%s: %w", path, err)
	}
	f := binaryFacts{Bytes: st.Size()}
	for _, d := range bi.Deps {
		if d.Path == hermesModule {
			f.Hermes = true
		}
	}
	return f, nil
}

// benchColdStart starts each function of the local stack fresh under
// aws-lambda-rie `runs` times and reports its bootstrap's size, whether it
// links hermes, and the median of (first invocation − warm invocation):
// the process start and main's initialisation, which for most functions
// includes reading the token secret and SES's GetAccount from the stack.
func benchColdStart(ctx context.Context, stackDir, binDir string, runs int, log io.Writer) ([][2]string, error) {
	if runs < 1 {
		return nil, fmt.Errorf("--runs %d: want at least 1", runs)
	}
	st, stackDir, err := readBenchStack(stackDir)
	if err != nil {
		return nil, err
	}
	logDir := filepath.Join(stackDir, "coldstart")
	srv, err := localstack.NewServer(localstack.ServeOptions{
		Stack: st, BinDir: binDir, RIEPath: localstack.RIEPath(), LogDir: logDir,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		// Ports of their own: the stack's serve may be running.
		APIAddr: "127.0.0.1:0", LambdaAddr: "127.0.0.1:0",
	})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	var pairs [][2]string
	for _, fn := range st.Functions {
		facts, err := readBinaryFacts(filepath.Join(binDir, fn.Folder, "bootstrap"))
		if err != nil {
			return nil, err
		}
		payload := []byte(coldStartPayload(fn))
		inits := make([]time.Duration, runs)
		for i := range inits {
			c, err := srv.ColdStart(ctx, fn.LogicalID, payload)
			if err != nil {
				return nil, err
			}
			inits[i] = c.Init()
			fmt.Fprintf(log, "cold start %s #%d: first %v, warm %v, init %v (refused: %v)\n",
				fn.Folder, i+1, c.First.Round(time.Microsecond), c.Warm.Round(time.Microsecond), c.Init().Round(time.Microsecond), c.Refused)
		}
		hermes := "0"
		if facts.Hermes {
			hermes = "1"
		}
		pairs = append(pairs,
			[2]string{"binary_mib_" + fn.Folder, fmt.Sprintf("%.1f", float64(facts.Bytes)/(1<<20))},
			[2]string{"links_hermes_" + fn.Folder, hermes},
			[2]string{"init_ms_" + fn.Folder, strconv.FormatFloat(float64(median(inits).Microseconds())/1000, 'f', 1, 64)},
		)
	}
	fmt.Fprintf(log, "cold start: RIE and function logs in %s\n", logDir)
	return pairs, nil
}
