package dynamo

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/subscription"
)

// subscribersIntegrationClient connects to the local stack's DynamoDB
// (AWS_ENDPOINT_URL, else moto on GAZETTE_MOTO_PORT or 5000). Without it
// the test skips, or fails when GAZETTE_INTEGRATION=1.
func subscribersIntegrationClient(t *testing.T) *dynamodb.Client {
	t.Helper()
	endpoint := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	if endpoint == "" {
		port := os.Getenv("GAZETTE_MOTO_PORT")
		if port == "" {
			port = "5000"
		}
		endpoint = "http://127.0.0.1:" + port
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatalf("endpoint %q: %v", endpoint, err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err != nil {
		if os.Getenv("GAZETTE_INTEGRATION") == "1" {
			t.Fatalf("no DynamoDB emulator at %s: %v", endpoint, err)
		}
		t.Skipf("no DynamoDB emulator at %s (start it with `make stack-up`): %v", endpoint, err)
	}
	conn.Close()
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// createSubscribersTable makes a table of the test's own with the
// template's key schema, index and TTL, deleted when the test ends.
func createSubscribersTable(t *testing.T, api *dynamodb.Client) string {
	t.Helper()
	ctx := context.Background()
	table := fmt.Sprintf("subscribers-it-%d", time.Now().UnixNano())
	_, err := api.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("status"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(SubscribersByStatus),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("status"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("id"), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"email", "name", "topics"}},
		}},
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		api.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	_, err = api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("expiresAt"), Enabled: aws.Bool(true)},
	})
	if err != nil {
		t.Fatalf("enable TTL: %v", err)
	}
	return table
}

// TestIntegrationSubscribers runs the store against the emulator, on a
// table of its own with the template's key schema, index and TTL.
func TestIntegrationSubscribers(t *testing.T) {
	ctx := context.Background()
	api := subscribersIntegrationClient(t)
	table := createSubscribersTable(t, api)

	s := NewSubscribers(api, table)
	now := time.Now().UTC().Truncate(time.Millisecond)
	r := subPending(subAnnID, "ann@example.com")
	if err := s.Save(ctx, r, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, r, 0); gazette.KindOf(err) != gazette.KindConflict {
		t.Fatalf("second create: %v, want conflict", err)
	}
	got, err := s.Load(ctx, subAnnID)
	if err != nil || got.Version != 1 || got.Status != gazette.SubscriberPending || !got.ExpiresAt.Equal(r.ExpiresAt) || len(got.History) != 1 {
		t.Fatalf("Load() = %+v, %v", got, err)
	}
	got.Move(gazette.SubscriberConfirmed, subscription.WhyConfirmLink, now)
	got.ExpiresAt = time.Time{}
	if err := s.Save(ctx, got, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, got, 1); gazette.KindOf(err) != gazette.KindConflict {
		t.Fatalf("stale save: %v, want conflict", err)
	}

	var batch []subscription.Record
	for i := range 30 {
		batch = append(batch, subConfirmed(i))
	}
	if err := s.PutMany(ctx, batch); err != nil {
		t.Fatal(err)
	}
	seen, cursor := 0, ""
	for {
		subs, next, err := s.ListConfirmed(ctx, cursor, 7)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(subs)
		if next == "" {
			break
		}
		cursor = next
	}
	if seen != 31 {
		t.Errorf("ListConfirmed saw %d, want 31", seen)
	}
	if err := s.Suppress(ctx, subAnnID, gazette.SubscriberComplained, "complaint", now); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget(ctx, batch[0].ID, now); err != nil {
		t.Fatal(err)
	}
	many, err := s.LoadMany(ctx, []string{subAnnID, batch[0].ID, gazette.SubscriberID("none@example.com")})
	if err != nil || len(many) != 2 || many[subAnnID].Status != gazette.SubscriberComplained || many[batch[0].ID].Email != "" {
		t.Errorf("LoadMany() = %+v, %v", many, err)
	}
	n := 0
	if err := s.Each(ctx, func(subscription.Record) error { n++; return nil }); err != nil || n != 31 {
		t.Errorf("Each saw %d, %v", n, err)
	}
}
