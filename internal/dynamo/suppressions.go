package dynamo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/subscription"
)

// The suppression log: who left confirmed status recently, so that a send
// planned before they left can skip them without reading 50 subscriber
// items per batch. It lives in the subscribers table, beside the records,
// as items keyed
//
//	suppressed#<UTC hour "2006-01-02T15">#<shard>
//
// each holding a string set "ids" of subscriber IDs and "expiresAt", the
// table's TTL attribute (epoch seconds). Subscriber IDs are hex, so no key
// clashes with them. The items have no "status", so the byStatus index,
// and with it publishing's ListConfirmed, never holds them.
//
// An hour is split over suppressionShards items because every UpdateItem
// is billed by the size of the whole item and no item may pass 400 KB: one
// item per hour would hold at most ~12,000 IDs, and after a large issue's
// bounces and unsubscribes each ADD would cost hundreds of write units on
// a single key. Eight shards keep an item near 20 KB at 5,000 departures
// an hour while a read of the usual span (a few hours) stays one
// BatchGetItem call.
const (
	suppressionPrefix  = "suppressed#"
	suppressionHour    = "2006-01-02T15"
	suppressionShards  = 8
	suppressionIDs     = "ids"
	suppressionMaxSpan = 96 * time.Hour
	// suppressionTTL is how long after its hour an item may go: no
	// sooner than the longest span read, so that no read misses one.
	suppressionTTL = suppressionMaxSpan
)

// isSuppressionItem reports whether an item ID is a suppression log item
// rather than a subscriber.
func isSuppressionItem(id string) bool { return strings.HasPrefix(id, suppressionPrefix) }

func suppressionShard(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % suppressionShards)
}

func suppressionKey(hour time.Time, shard int) string {
	return fmt.Sprintf("%s%s#%d", suppressionPrefix, hour.UTC().Format(suppressionHour), shard)
}

// suppressionKeys lists the log item IDs of the hours from since's through
// now's, oldest first, at most suppressionMaxSpan of them.
func suppressionKeys(since, now time.Time) []string {
	last := now.UTC().Truncate(time.Hour)
	first := since.UTC().Truncate(time.Hour)
	if oldest := last.Add(-suppressionMaxSpan + time.Hour); first.Before(oldest) {
		first = oldest
	}
	var keys []string
	for h := first; !h.After(last); h = h.Add(time.Hour) {
		for shard := range suppressionShards {
			keys = append(keys, suppressionKey(h, shard))
		}
	}
	return keys
}

// leftConfirmed reports whether saving r records a fresh departure from
// confirmed status: its last transition, made by this write (at its
// UpdatedAt), goes from confirmed to unsubscribed, bounced or complained.
// Only confirmed subscribers are planned into an issue, so pending ones
// and new or already suppressed records (imports, Suppress of an unknown
// address, Forget of a bounced one) need no entry, nor does a later save
// of a record that left long ago (a re-opt-in request, new preferences).
func leftConfirmed(r subscription.Record) bool {
	if len(r.History) == 0 || !subscription.Suppressed(r.Status) {
		return false
	}
	last := r.History[len(r.History)-1]
	return last.From == gazette.SubscriberConfirmed && last.To == r.Status && last.At.Equal(r.UpdatedAt)
}

// noteDepartures logs the departures among the records just written. A
// failure does not fail the write that preceded it: the departure itself
// is stored, and all that is lost is that an issue already being sent may
// still reach those subscribers. So it goes to the logger as a warning
// instead of to the caller, whose retry (an SES event redelivered, a
// person clicking again) would find nothing left to change and never
// write the log anyway.
func (s *Subscribers) noteDepartures(ctx context.Context, rs ...subscription.Record) {
	var ids []string
	for _, r := range rs {
		if leftConfirmed(r) {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return
	}
	if err := s.logSuppressed(ctx, s.now(), ids...); err != nil {
		log := s.Logger
		if log == nil {
			log = slog.Default()
		}
		// IDs are hashes; the addresses never reach the log.
		log.WarnContext(ctx, "suppression log not written: issues being sent may still reach these subscribers",
			slog.Any("subscribers", ids), slog.String("error", err.Error()))
	}
}

// logSuppressed adds ids to the log items of at's hour, one UpdateItem per
// shard. at is the time of the write, not of the event that caused it (a
// bounce may be reported minutes late): a reader that planned its issue
// before the subscriber's record changed reads from its plan's hour on,
// which must include the hour the departure is logged under.
func (s *Subscribers) logSuppressed(ctx context.Context, at time.Time, ids ...string) error {
	hour := at.UTC().Truncate(time.Hour)
	var byShard [suppressionShards][]string
	for _, id := range ids {
		sh := suppressionShard(id)
		byShard[sh] = append(byShard[sh], id)
	}
	exp := &types.AttributeValueMemberN{Value: fmt.Sprint(hour.Add(suppressionTTL).Unix())}
	var errs []error
	for shard, ids := range byShard {
		if len(ids) == 0 {
			continue
		}
		key := suppressionKey(hour, shard)
		// ADD to a string set is idempotent and creates the item, so
		// concurrent writers need no condition and a repeat is harmless.
		_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                aws.String(s.table),
			Key:                      subKey(key),
			UpdateExpression:         aws.String(suppressionUpdate),
			ExpressionAttributeNames: map[string]string{"#ids": suppressionIDs, "#exp": "expiresAt"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":ids": &types.AttributeValueMemberSS{Value: ids},
				":exp": exp,
			},
		})
		if err != nil {
			errs = append(errs, classify(fmt.Sprintf("log suppression of %s in %s", strings.Join(ids, ","), key), err))
		}
	}
	return errors.Join(errs...)
}

// suppressionUpdate is logSuppressed's update expression.
const suppressionUpdate = "ADD #ids :ids SET #exp = :exp"

// SuppressedSince returns the IDs of the subscribers who left confirmed
// status (unsubscribed, bounced, complained, or erased) from the start of
// since's UTC hour through now, for a send to skip recipients it planned
// before they left. Whole hours are read, so it may return departures
// from up to an hour before since. The span is capped at 96 hours, the
// log's lifetime: for an earlier since it returns only the departures of
// the last 96 hours. An ID may belong to someone who has since subscribed
// again; skipping them for the rest of one issue is the safe side.
//
// It reads the hours' log items with BatchGetItem (about eight keys an
// hour, 100 a call), retrying unprocessed keys with backoff. The reads
// are eventually consistent: a departure logged a second earlier may be
// missing, which costs nothing as callers cache the answer for some
// seconds anyway, and it halves the read cost.
func (s *Subscribers) SuppressedSince(ctx context.Context, since, now time.Time) (map[string]bool, error) {
	ids := map[string]bool{}
	ka := types.KeysAndAttributes{
		ProjectionExpression:     aws.String("#ids"),
		ExpressionAttributeNames: map[string]string{"#ids": suppressionIDs},
	}
	err := s.batchGet(ctx, "read suppression log", suppressionKeys(since, now), ka, func(av map[string]types.AttributeValue) error {
		if set, ok := av[suppressionIDs].(*types.AttributeValueMemberSS); ok {
			for _, id := range set.Value {
				ids[id] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}
