package awsconfig

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// HTTPClient is the SDK's default HTTP client behind the request-body fix
// GuardRequestBody describes. Every client in this repository uses it:
// Load sets it, and the local stack's and the bench's configurations take
// it explicitly.
func HTTPClient() aws.HTTPClient {
	return GuardRequestBody(awshttp.NewBuildableClient())
}

// GuardRequestBody returns c with each request body narrowed to Read and
// Close.
//
// Why: smithy-go wraps a request body in a reader that the SDK closes as
// soon as Do returns, and whose WriteTo answers io.EOF once closed. When a
// body larger than net/http's 4 KB write buffer goes straight to the
// socket, a fast server can answer before the transport's write loop has
// made its final read of the body (it reads past Content-Length to check
// for extra bytes). That read goes through io.Copy, which takes WriteTo's
// io.EOF as an error. The write loop then closes the connection, perhaps
// while the response body is still being read. The caller sees "use of
// closed network connection" on a call the server completed: for
// SendBulkEmail, a batch SES accepted that looks like an outage. Every
// such call also costs a new connection. A body without WriteTo is read
// with Read, whose io.EOF io.Copy takes as the end. Found when `gazette
// bench cpu` began to fail with "use of closed network connection" once
// its fake SES answered with message IDs of SES's length (replies past
// 4 KB); TestGuardRequestBodyKeepsConnections shows the dropped
// connections.
func GuardRequestBody(c aws.HTTPClient) aws.HTTPClient {
	return bodyGuard{c}
}

type bodyGuard struct{ next aws.HTTPClient }

// Do implements aws.HTTPClient.
func (g bodyGuard) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = readCloser{r.Body}
	}
	return g.next.Do(r)
}

// readCloser hides every method of the body but Read and Close.
type readCloser struct{ io.ReadCloser }
