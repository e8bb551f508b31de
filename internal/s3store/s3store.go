// Package s3store reads, writes and moves objects in the articles bucket.
package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/gazette-news/gazette/internal/gazette"
)

// API is the part of the S3 client this package uses.
type API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	CopyObject(ctx context.Context, in *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// Bucket is one S3 bucket.
type Bucket struct {
	api  API
	name string
}

// New returns the bucket name reached through api.
func New(api API, name string) *Bucket { return &Bucket{api: api, name: name} }

// Name is the bucket's name.
func (b *Bucket) Name() string { return b.name }

// Get reads key, refusing objects larger than limit bytes without reading
// them whole (limit <= 0 means no limit). A missing key is KindNotFound.
func (b *Bucket) Get(ctx context.Context, key string, limit int64) ([]byte, error) {
	out, err := b.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)})
	if err != nil {
		return nil, classify("get s3://"+b.name+"/"+key, err)
	}
	defer out.Body.Close()
	r := io.Reader(out.Body)
	if limit > 0 {
		if n := aws.ToInt64(out.ContentLength); n > limit {
			return nil, gazette.Errorf(gazette.KindInvalid, "too_large",
				"the file is %d bytes; the limit is %d bytes", n, limit)
		}
		r = io.LimitReader(r, limit+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", b.name, key, err)
	}
	if limit > 0 && int64(len(data)) > limit {
		return nil, gazette.Errorf(gazette.KindInvalid, "too_large", "the file is larger than the limit of %d bytes", limit)
	}
	return data, nil
}

// Put writes body to key with the given content type.
func (b *Bucket) Put(ctx context.Context, key, contentType string, body []byte) error {
	_, err := b.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(b.name), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentType: aws.String(contentType),
	})
	return classify("put s3://"+b.name+"/"+key, err)
}

// Move copies from to to and then deletes from. S3 has no rename; if we
// crash between the two steps the object exists twice, which the next
// delivery of the same event repairs by moving it again.
func (b *Bucket) Move(ctx context.Context, from, to string) error {
	_, err := b.api.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String(b.name), Key: aws.String(to),
		CopySource: aws.String(url.PathEscape(b.name) + "/" + escapeKey(from)),
	})
	if err != nil {
		return classify("copy s3://"+b.name+"/"+from+" to "+to, err)
	}
	_, err = b.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.name), Key: aws.String(from)})
	return classify("delete s3://"+b.name+"/"+from, err)
}

// Exists reports whether key exists.
func (b *Bucket) Exists(ctx context.Context, key string) (bool, error) {
	_, err := b.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)})
	if err == nil {
		return true, nil
	}
	err = classify("head s3://"+b.name+"/"+key, err)
	if gazette.KindOf(err) == gazette.KindNotFound {
		return false, nil
	}
	return false, err
}

// escapeKey escapes each path segment of an S3 key for CopySource.
func escapeKey(key string) string {
	var buf bytes.Buffer
	for i, seg := range bytes.Split([]byte(key), []byte("/")) {
		if i > 0 {
			buf.WriteByte('/')
		}
		buf.WriteString(url.PathEscape(string(seg)))
	}
	return buf.String()
}

func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	kind := gazette.KindUnknown
	var noKey *types.NoSuchKey
	var notFound *types.NotFound
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &noKey), errors.As(err, &notFound):
		kind = gazette.KindNotFound
	case errors.As(err, &apiErr):
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			kind = gazette.KindNotFound
		case "SlowDown", "Throttling":
			kind = gazette.KindThrottled
		case "NoSuchBucket", "AccessDenied":
			kind = gazette.KindPermanent
		}
	}
	return fmt.Errorf("%s: %w", op, gazette.Wrap(kind, "s3", err))
}
