package ingest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
)

// memObjects is an in-memory bucket.
type memObjects map[string][]byte

func (m memObjects) Get(_ context.Context, key string, limit int64) ([]byte, error) {
	b, ok := m[key]
	if !ok {
		return nil, gazette.Errorf(gazette.KindNotFound, "no_such_key", "%s not found", key)
	}
	if int64(len(b)) > limit {
		return nil, gazette.Errorf(gazette.KindInvalid, "too_large", "the file is %d bytes", len(b))
	}
	return b, nil
}

func (m memObjects) Put(_ context.Context, key, _ string, body []byte) error {
	m[key] = body
	return nil
}

func (m memObjects) Move(_ context.Context, from, to string) error {
	b, ok := m[from]
	if !ok {
		return gazette.Errorf(gazette.KindNotFound, "no_such_key", "%s not found", from)
	}
	m[to] = b
	delete(m, from)
	return nil
}

func (m memObjects) Exists(_ context.Context, key string) (bool, error) {
	_, ok := m[key]
	return ok, nil
}

type memArticles map[string]gazette.Article

func (m memArticles) Create(_ context.Context, a gazette.Article) error {
	if _, ok := m[a.ID]; ok {
		return gazette.Errorf(gazette.KindConflict, "exists", "article %s exists", a.ID)
	}
	m[a.ID] = a
	return nil
}

// parseFirstLine is a stand-in parser: the first line is the title, the ID
// is the content, and "" is refused.
func parseFirstLine(_ string, data []byte) (gazette.Article, error) {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return gazette.Article{}, gazette.Errorf(gazette.KindInvalid, "empty", "the file is empty")
	}
	title, _, _ := strings.Cut(s, "\n")
	return gazette.Article{ID: s, Title: title}, nil
}

var now = time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)

func newService(objs memObjects, arts memArticles) *Service {
	return &Service{
		Objects: objs, Articles: arts, Parse: parseFirstLine,
		Now: func() time.Time { return now },
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
}

func TestIngestArticle(t *testing.T) {
	tests := []struct {
		name       string
		objects    memObjects
		articles   memArticles
		key        string
		want       Outcome
		wantCode   string
		wantObject string // must exist afterwards
		wantGone   string // must not exist afterwards
		wantKind   gazette.Kind
		wantErr    bool
	}{
		{
			name:    "stored and moved to processed",
			objects: memObjects{"incoming/a.txt": []byte("Title\n\nBody.")}, articles: memArticles{},
			key: "incoming/a.txt", want: Stored, wantObject: "processed/a.txt", wantGone: "incoming/a.txt",
		},
		{
			name:     "same content again is a duplicate, still moved",
			objects:  memObjects{"incoming/b.txt": []byte("Title\n\nBody.")},
			articles: memArticles{"Title\n\nBody.": {ID: "Title\n\nBody."}},
			key:      "incoming/b.txt", want: Duplicate, wantObject: "processed/b.txt", wantGone: "incoming/b.txt",
		},
		{
			name:    "unparseable is rejected with a reason",
			objects: memObjects{"incoming/sub/empty.txt": []byte("  \n")}, articles: memArticles{},
			key: "incoming/sub/empty.txt", want: Rejected, wantCode: "empty",
			wantObject: "rejected/sub/empty.txt.reason.json", wantGone: "incoming/sub/empty.txt",
		},
		{
			name:    "too large is rejected unread",
			objects: memObjects{"incoming/big.txt": make([]byte, MaxBytes+1)}, articles: memArticles{},
			key: "incoming/big.txt", want: Rejected, wantCode: "too_large", wantObject: "rejected/big.txt",
		},
		{
			name:    "redelivered event after the move",
			objects: memObjects{"processed/a.txt": []byte("x")}, articles: memArticles{},
			key: "incoming/a.txt", want: AlreadyHandled, wantObject: "processed/a.txt",
		},
		{
			name:    "object gone everywhere",
			objects: memObjects{}, articles: memArticles{},
			key: "incoming/lost.txt", wantErr: true, wantKind: gazette.KindNotFound,
		},
		{
			name:    "key outside incoming",
			objects: memObjects{}, articles: memArticles{},
			key: "archive/x.html", wantErr: true, wantKind: gazette.KindInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newService(tt.objects, tt.articles).IngestArticle(context.Background(), tt.key)
			if tt.wantErr {
				if err == nil || gazette.KindOf(err) != tt.wantKind {
					t.Fatalf("IngestArticle() error = %v (kind %v), want kind %v", err, gazette.KindOf(err), tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatalf("IngestArticle() error = %v", err)
			}
			if got.Outcome != tt.want || got.Code != tt.wantCode {
				t.Errorf("IngestArticle() = %+v, want outcome %s code %q", got, tt.want, tt.wantCode)
			}
			if _, ok := tt.objects[tt.wantObject]; !ok {
				t.Errorf("%s missing; objects: %v", tt.wantObject, keys(tt.objects))
			}
			if _, ok := tt.objects[tt.wantGone]; tt.wantGone != "" && ok {
				t.Errorf("%s still there", tt.wantGone)
			}
		})
	}
}

func TestRejectedReasonJSON(t *testing.T) {
	objs := memObjects{"incoming/empty.txt": nil}
	if _, err := newService(objs, memArticles{}).IngestArticle(context.Background(), "incoming/empty.txt"); err != nil {
		t.Fatal(err)
	}
	var r Reason
	if err := json.Unmarshal(objs["rejected/empty.txt.reason.json"], &r); err != nil {
		t.Fatalf("reason is not JSON: %v", err)
	}
	want := Reason{Object: "incoming/empty.txt", Code: "empty", Reason: "the file is empty", RejectedAt: now}
	if r != want {
		t.Errorf("reason = %+v, want %+v", r, want)
	}
}

func TestStoredArticleIsPending(t *testing.T) {
	arts := memArticles{}
	objs := memObjects{"incoming/a.txt": []byte("Title\n\nBody.")}
	if _, err := newService(objs, arts).IngestArticle(context.Background(), "incoming/a.txt"); err != nil {
		t.Fatal(err)
	}
	a := arts["Title\n\nBody."]
	if a.Status != gazette.ArticlePending || a.ObjectKey != "processed/a.txt" || !a.IngestedAt.Equal(now) {
		t.Errorf("stored article = %+v, want pending at processed/a.txt ingested %v", a, now)
	}
}

func keys(m memObjects) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
