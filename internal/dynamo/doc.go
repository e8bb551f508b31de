// Package dynamo keeps Gazette's records in DynamoDB: articles, issues,
// subscribers and the delivery ledger, one table each (see the README's
// "Data model"); the subscribers table also holds the suppression log of
// recent departures (suppressions.go). Each store is a small type over the
// few DynamoDB calls it needs; conditional writes carry the idempotency
// that SQS redelivery and Lambda retries require.
package dynamo

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/gazette-news/gazette/internal/gazette"
)

// classify maps a DynamoDB error onto a gazette error kind.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	kind := gazette.KindUnknown
	var cond *types.ConditionalCheckFailedException
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &cond):
		kind = gazette.KindConflict
	case errors.As(err, &apiErr):
		switch apiErr.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded":
			kind = gazette.KindThrottled
		case "ResourceNotFoundException":
			kind = gazette.KindPermanent
		case "ValidationException":
			kind = gazette.KindInvalid
		}
	}
	return fmt.Errorf("%s: %w", op, gazette.Wrap(kind, "dynamodb", err))
}
