// Command echofn is the local stack's test function. It echoes what it gets and
// fails on request, so the tests can drive RIE, the SQS poller and the HTTP
// gateway without the real functions:
//
//   - an SQS event: every record whose body is "fail" is reported in
//     batchItemFailures; a body "crash" exits the process mid-batch;
//   - an HTTP API v2 event: answers 200 with the event's method, path, query,
//     cookies and body as JSON, plus a cookie and a multi-value header;
//   - any other payload: {"fail": true} returns an error, anything else is
//     echoed back.
//
// Each invocation logs one JSON line on stdout, as the real functions do.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

var logger = slog.New(slog.NewJSONHandler(os.Stdout, nil))

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe map[string]json.RawMessage
	_ = json.Unmarshal(raw, &probe)
	switch {
	case probe["Records"] != nil:
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		var resp events.SQSEventResponse
		for _, r := range ev.Records {
			switch r.Body {
			case "fail":
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			case "crash":
				logger.Info("crashing", "messageId", r.MessageId)
				os.Exit(3)
			}
		}
		logger.Info("sqs batch", "records", len(ev.Records), "failed", len(resp.BatchItemFailures))
		return resp, nil
	case probe["routeKey"] != nil:
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		logger.Info("http request", "routeKey", ev.RouteKey)
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		return events.APIGatewayV2HTTPResponse{
			StatusCode:        201,
			Headers:           map[string]string{"Content-Type": "application/json"},
			MultiValueHeaders: map[string][]string{"X-Echo": {"a", "b"}},
			Cookies:           []string{"echo=1; Path=/"},
			Body:              string(b),
		}, nil
	case string(probe["fail"]) == "true":
		logger.Info("failing on request")
		return nil, errors.New("asked to fail")
	}
	logger.Info("echo", "bytes", len(raw))
	return raw, nil
}

func main() {
	lambda.Start(handle)
}
