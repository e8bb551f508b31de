package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gazette-news/gazette/internal/article"
	"github.com/gazette-news/gazette/internal/localstack/stacktest"
)

// TestIntegrationPartialBatchFailure sends three messages to the article
// events queue, one of which no code could read. The real function under
// the local event source reports it alone as failed: the two others are
// deleted, and the bad one reaches the DLQ after maxReceiveCount receives.
func TestIntegrationPartialBatchFailure(t *testing.T) {
	st := stacktest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	q, err := st.QueueURL("ArticleEventsQueue")
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := st.QueueURL("ArticleEventsDLQ")
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := st.BucketName("ArticlesBucket")
	if err != nil {
		t.Fatal(err)
	}
	c := st.Clients().SQS
	run := fmt.Sprint(time.Now().UnixNano())
	bad := "not an S3 notification " + run
	good := func(i int) string {
		return fmt.Sprintf(`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-27T06:58:12.345Z","Bucket":%q,"RequestId":"%s-%d"}`, bucket, run, i)
	}
	for _, body := range []string{good(1), bad, good(2)} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}

	var parked []string
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline) && len(parked) == 0; {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(dlq), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			body := aws.ToString(m.Body)
			if strings.Contains(body, run) {
				parked = append(parked, body)
				if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(dlq), ReceiptHandle: m.ReceiptHandle}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if len(parked) != 1 || parked[0] != bad {
		t.Fatalf("DLQ holds %q, want only the unreadable message", parked)
	}
	if err := st.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range attrs.Attributes {
		if v != "0" {
			t.Errorf("article events queue: %s = %s after the run, want 0 (the good messages were not deleted)", k, v)
		}
	}
}

// TestIntegrationIngest drops files into incoming/ and checks, through S3
// and DynamoDB, what editors would: accepted files move to processed/ and
// become one pending article each, the same content twice is one article,
// a redelivered event changes nothing, and a refused file is kept under
// rejected/ with its reason.
func TestIntegrationIngest(t *testing.T) {
	st := stacktest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bucket, err := st.BucketName("ArticlesBucket")
	if err != nil {
		t.Fatal(err)
	}
	table, err := st.TableName("ArticlesTable")
	if err != nil {
		t.Fatal(err)
	}
	clients := st.Clients()
	run := fmt.Sprint(time.Now().UnixNano())
	body := []byte("Harbour ferry timetable changes from " + run + "\n\n" +
		"The harbour ferry will run every twenty minutes from Monday, the port authority said. " +
		"Evening services are extended until midnight during the summer season.\n\n" +
		"Residents had asked for more frequent crossings for years, and the council agreed to fund two more boats.\n")
	want, err := article.Parse("a.txt", body, article.Options{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, data []byte) {
		t.Helper()
		if _, err := clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(key string) bool {
		_, err := clients.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		return err == nil
	}
	stored := func() map[string]dbtypes.AttributeValue {
		t.Helper()
		out, err := clients.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
			Key: map[string]dbtypes.AttributeValue{"id": &dbtypes.AttributeValueMemberS{Value: want.ID}}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item
	}
	wait := func() {
		t.Helper()
		if err := st.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	prefix := "incoming/it-" + run + "/"

	t.Run("accepted", func(t *testing.T) {
		put(prefix+"a.txt", body)
		wait()
		if !exists("processed/it-"+run+"/a.txt") || exists(prefix+"a.txt") {
			t.Error("the file did not move from incoming/ to processed/")
		}
		item := stored()
		if s, _ := item["status"].(*dbtypes.AttributeValueMemberS); s == nil || s.Value != "pending" {
			t.Fatalf("article %s = %v, want a pending item", want.ID, item)
		}
		if s, _ := item["title"].(*dbtypes.AttributeValueMemberS); s == nil || s.Value != want.Title {
			t.Errorf("stored title = %v, want %q", item["title"], want.Title)
		}
	})

	t.Run("duplicate upload is one article", func(t *testing.T) {
		before := stored()
		put(prefix+"b.txt", body)
		wait()
		if !exists("processed/it-" + run + "/b.txt") {
			t.Error("the duplicate was not kept under processed/")
		}
		after := stored()
		key := func(item map[string]dbtypes.AttributeValue) string {
			s, _ := item["objectKey"].(*dbtypes.AttributeValueMemberS)
			if s == nil {
				return ""
			}
			return s.Value
		}
		if key(before) == "" || key(before) != key(after) {
			t.Errorf("the duplicate overwrote the article: objectKey %q → %q", key(before), key(after))
		}
	})

	t.Run("redelivered event", func(t *testing.T) {
		q, err := st.QueueURL("ArticleEventsQueue")
		if err != nil {
			t.Fatal(err)
		}
		ev := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-27T06:58:12.345Z","eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":%d}}}]}`,
			bucket, bucket, prefix+"a.txt", len(body))
		if _, err := clients.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(ev)}); err != nil {
			t.Fatal(err)
		}
		wait()
		if !exists("processed/it-"+run+"/a.txt") || exists("rejected/it-"+run+"/a.txt") {
			t.Error("a redelivered event moved the processed file")
		}
		if s, _ := stored()["status"].(*dbtypes.AttributeValueMemberS); s == nil || s.Value != "pending" {
			t.Error("a redelivered event changed the article")
		}
	})

	t.Run("refused file is kept with its reason", func(t *testing.T) {
		put(prefix+"empty.txt", nil)
		wait()
		out, err := clients.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("rejected/it-" + run + "/empty.txt.reason.json")})
		if err != nil {
			t.Fatalf("no reason beside the rejected file: %v", err)
		}
		defer out.Body.Close()
		var reason struct{ Code, Reason string }
		if err := json.NewDecoder(out.Body).Decode(&reason); err != nil {
			t.Fatal(err)
		}
		if reason.Code != "empty" || reason.Reason == "" {
			t.Errorf("reason = %+v, want code empty and a sentence", reason)
		}
		if !exists("rejected/it-" + run + "/empty.txt") {
			t.Error("the rejected file itself is gone")
		}
	})
}
