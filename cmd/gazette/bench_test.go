package main

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"time"
)

func TestParseMemLimit(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "192MiB", want: 192 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "4096", want: 4096},
		{in: "10B", want: 10},
		{in: "8KiB", want: 8 << 10},
		{in: "MiB", wantErr: true},
		{in: "-1MiB", wantErr: true},
		{in: "12MB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseMemLimit(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseMemLimit(%q) = %d, %v; want %d, error %t", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestApplySendBatchRuntime: the bench runs with the send-batch function's
// GC settings from the template, and refuses settings it cannot read.
func TestApplySendBatchRuntime(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	tests := []struct {
		name    string
		env     string
		want    string
		wantGC  int
		wantErr bool
	}{
		{name: "all set", env: "GOGC: \"250\"\n          GOMEMLIMIT: 64MiB\n          GOMAXPROCS: \"1\"", want: "GOGC=250 GOMEMLIMIT=64MiB GOMAXPROCS=1", wantGC: 250},
		{name: "none set", env: "OTHER: x", want: "Go defaults", wantGC: 100},
		{name: "bad GOGC", env: "GOGC: lots", wantErr: true},
		{name: "bad GOMAXPROCS", env: "GOMAXPROCS: \"0\"", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			path := filepath.Join(t.TempDir(), "template.yaml")
			doc := "Resources:\n  SendBatchFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      Environment:\n        Variables:\n          " + tt.env + "\n"
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := applySendBatchRuntime(path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("applySendBatchRuntime() error = %v, want error %t", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got != tt.want {
				t.Errorf("applySendBatchRuntime() = %q, want %q", got, tt.want)
			}
			if gc := debug.SetGCPercent(100); gc != tt.wantGC {
				t.Errorf("GOGC now %d, want %d", gc, tt.wantGC)
			}
		})
	}
	if _, err := applySendBatchRuntime("../../template.yaml"); err != nil {
		t.Errorf("the project's template: %v", err)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		want time.Duration
	}{
		{name: "one", in: []time.Duration{7}, want: 7},
		{name: "odd, unsorted", in: []time.Duration{9, 1, 5}, want: 5},
		{name: "even takes the upper middle", in: []time.Duration{4, 1, 3, 2}, want: 3},
		{name: "repeated", in: []time.Duration{2, 2, 8, 2, 8}, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			if got := median(in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Errorf("median reordered its input: %v", in)
			}
		})
	}
}

func TestBusiest(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	ms := func(d int) time.Time { return t0.Add(time.Duration(d) * time.Millisecond) }
	tests := []struct {
		name string
		at   []time.Time
		n    []int
		want int
	}{
		{"none", nil, nil, 0},
		{"one", []time.Time{ms(0)}, []int{7}, 7},
		{"all in one window", []time.Time{ms(0), ms(500), ms(999)}, []int{1, 2, 3}, 6},
		{"window is half-open", []time.Time{ms(0), ms(1000)}, []int{4, 5}, 5},
		{"later window busier", []time.Time{ms(0), ms(900), ms(1100), ms(1800)}, []int{10, 1, 20, 30}, 51},
		{"same instant", []time.Time{ms(0), ms(0), ms(2000)}, []int{3, 4, 5}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sendTimes{at: tt.at, n: tt.n}
			if got := s.busiest(time.Second); got != tt.want {
				t.Errorf("busiest = %d, want %d", got, tt.want)
			}
		})
	}
}
