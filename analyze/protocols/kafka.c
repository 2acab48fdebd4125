/* kafka.c - Apache Kafka wire protocol: size-framed requests and responses
 * paired by correlation id (a broker may answer out of order), every api key
 * named, detail for the data, group and offset APIs.
 *
 * Reference: https://kafka.apache.org/protocol and the message definitions
 * the JSON files in clients/src/main/resources/common/message/ of apache/kafka (read to
 * build the tables below; nothing of them is copied into the tree).
 *
 *   frame    = size:int32 body[size]
 *   request  = api_key:int16 api_version:int16 correlation_id:int32
 *              client_id:nullable_string (header v1; v0: ControlledShutdown
 *              v0 has no client_id) [tagged_fields (header v2: flexible)]
 *   response = correlation_id:int32 [tagged_fields (header v1: flexible;
 *              never for ApiVersions)]
 *   flexible versions (KIP-482): compact strings/arrays (unsigned varint
 *   length + 1, 0 = null), tagged fields after each structure.
 *   record batch (magic 2) = base_offset:int64 length:int32 leader_epoch:int32
 *              magic:int8 crc:int32 attributes:int16 (bits 0-2 codec, bit 5
 *              control) last_offset_delta:int32 timestamps:2*int64
 *              producer_id:int64 epoch:int16 base_sequence:int32 count:int32
 *   message set (magic 0/1) = offset:int64 size:int32 crc:int32 magic:int8
 *              attributes:int8 ...; each message counts as one record (a
 *              compressed wrapper message as one).
 *
 * Coverage (request / response detail; versions as in the spec's
 * validVersions; flexible from the version in the api table):
 *
 *   api                    versions  request detail            response detail
 *   Produce (0)            0-12      topics, partitions, acks, per-partition errors,
 *                                    batches, records, bytes,  throttle
 *                                    compression codec
 *   Fetch (1)              0-17      topics (v13+: topic id),  records, bytes, codec,
 *                                    partitions                per-partition errors,
 *                                                              high watermark, throttle
 *   ListOffsets (2)        0-10      topics, partitions        per-partition errors, throttle
 *   Metadata (3)           0-13      topics (null: all)        topics, partitions, errors, throttle
 *   OffsetCommit (8)       0-9       group, topics, partitions per-partition errors, throttle
 *   OffsetFetch (9)        0-9       group (first), topics     errors, throttle
 *   FindCoordinator (10)   0-6       key (first)               error, throttle
 *   JoinGroup (11) 0-9, Heartbeat (12) 0-4, LeaveGroup (13) 0-5,
 *   SyncGroup (14) 0-5               group                     error, throttle
 *   DescribeGroups (15)    0-6       group (first), count      first group's error, throttle
 *   ListGroups (16)        0-5       -                         error, throttle
 *   SaslHandshake (17)     0-1       mechanism                 error
 *   SaslAuthenticate (36)  0-2       nothing (auth bytes are   error (message and bytes
 *                                    never read)               never read)
 *   ApiVersions (18)       0-4       client software name/ver  error, api count, throttle
 *   CreateTopics (19)      0-7       topics                    first topic's error, throttle
 *   DeleteTopics (20)      0-6       topics                    per-topic errors, throttle
 *   InitProducerId (22)    0-5       transactional id          error, throttle
 *   AddPartitionsToTxn(24) 0-5       topics (v0-3)             errors (v0-3), error (v4+)
 *   AddOffsetsToTxn (25)   0-4       transactional id, group   error, throttle
 *   EndTxn (26)            0-5       transactional id          error, throttle
 *   TxnOffsetCommit (28)   0-5       transactional id, group   per-partition errors, throttle
 *   DeleteGroups (42)      0-2       group (first), count      -
 *   every other key 0-92:  name, version, correlation id, client id, pairing.
 * Rows: one per request in `kafka` (its first topic, counts, the first
 * error, a capped `detail` text), and one per topic/partition of Produce,
 * Fetch, ListOffsets, OffsetCommit, OffsetFetch, TxnOffsetCommit and
 * AddPartitionsToTxn (v0-3) in `kafka_partitions`: the request's
 * partitions merged with what the response says of each (error code;
 * Produce: records, bytes, base offset; Fetch: records, bytes, high
 * watermark; ListOffsets: offset; OffsetCommit: committed offset;
 * OffsetFetch: offset); the first 256 partitions of a request (the
 * `partitions` column counts them all).
 * ControlledShutdown v0 is read with request header v0 (no client id).
 * Versions above those: name and pairing only ("version not decoded").
 * Bounds: the first 256 KiB of a frame are kept and decoded, in a buffer
 * that grows within the analyzer's memory budget (fr_pctx.reserve); a
 * bound_exceeded anomaly counts the bytes of a larger frame not decoded.
 * Why a bound and not a streaming decoder: what is past it is record
 * contents (a Produce or Fetch of one big partition: its declared size and
 * partition are still read, the batches past the bound not counted) or
 * the partitions after the first few thousand of a frame, which the
 * kafka_partitions bound would leave out anyway.  1024 requests wait at
 * most; arrays, strings and varints are checked against the bytes left in
 * the frame.
 * Not decoded: record contents (keys, values, headers), Fetch v13+ topic
 * names (only ids are on the wire), Produce v13 (topic ids), anything
 * after the fields named above.
 * Checked on real bytes (tests/corpus/kafka, tests/unit/kafka_kcat.sh,
 * tshark): requests Produce v2/v7/v9, Fetch v12, Metadata v0-v4,
 * ApiVersions v3, JoinGroup v7, LeaveGroup v4, SyncGroup v5; responses of
 * the same Produce, Fetch, JoinGroup, LeaveGroup, SyncGroup and ApiVersions
 * captures.  The other rows follow the spec's message definitions and are
 * exercised by the fuzz corpus and hand-built frames only.
 */
#include "../proto.h"
#include "../../formats/bytes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP_MAX (256 * 1024)          /* kept bytes of one frame */
#define FRAME_MAX (100 * 1024 * 1024)  /* larger: not a Kafka frame */
#define PEND_MAX 1024                  /* requests waiting for responses */
#define CAP 96                         /* kept bytes of names */
#define DETAIL 480                     /* per-partition detail text */
#define WIN 14                         /* resync window: a request head */
#define ACKS_NONE (-99)                /* acks not read */
#define PARTS_MAX 256                  /* kafka_partitions rows of one request */

enum { ST_SIZE = 0, ST_BODY, ST_RESYNC };

/* ---- value-to-name tables -------------------------------------------------- */

/* name, highest version decoded, first flexible version (99: never) */
struct api { const char *name; int8_t max, flex; };
static const struct api apis[] = {
	{"Produce", 12, 9}, {"Fetch", 17, 12}, {"ListOffsets", 10, 6}, {"Metadata", 13, 9},
	{"LeaderAndIsr", 7, 4}, {"StopReplica", 4, 2}, {"UpdateMetadata", 8, 6},
	{"ControlledShutdown", 3, 3}, {"OffsetCommit", 9, 8}, {"OffsetFetch", 9, 6},
	{"FindCoordinator", 6, 3}, {"JoinGroup", 9, 6}, {"Heartbeat", 4, 4}, {"LeaveGroup", 5, 4},
	{"SyncGroup", 5, 4}, {"DescribeGroups", 6, 5}, {"ListGroups", 5, 3}, {"SaslHandshake", 1, 99},
	{"ApiVersions", 4, 3}, {"CreateTopics", 7, 5}, {"DeleteTopics", 6, 4}, {"DeleteRecords", 2, 2},
	{"InitProducerId", 5, 2}, {"OffsetForLeaderEpoch", 4, 4}, {"AddPartitionsToTxn", 5, 3},
	{"AddOffsetsToTxn", 4, 3}, {"EndTxn", 5, 3}, {"WriteTxnMarkers", 1, 1},
	{"TxnOffsetCommit", 5, 3}, {"DescribeAcls", 3, 2}, {"CreateAcls", 3, 2}, {"DeleteAcls", 3, 2},
	{"DescribeConfigs", 4, 4}, {"AlterConfigs", 2, 2}, {"AlterReplicaLogDirs", 2, 2},
	{"DescribeLogDirs", 4, 2}, {"SaslAuthenticate", 2, 2}, {"CreatePartitions", 3, 2},
	{"CreateDelegationToken", 3, 2}, {"RenewDelegationToken", 2, 2},
	{"ExpireDelegationToken", 2, 2}, {"DescribeDelegationToken", 3, 2}, {"DeleteGroups", 2, 2},
	{"ElectLeaders", 2, 2}, {"IncrementalAlterConfigs", 1, 1},
	{"AlterPartitionReassignments", 0, 0}, {"ListPartitionReassignments", 0, 0},
	{"OffsetDelete", 0, 99}, {"DescribeClientQuotas", 1, 1}, {"AlterClientQuotas", 1, 1},
	{"DescribeUserScramCredentials", 0, 0}, {"AlterUserScramCredentials", 0, 0}, {"Vote", 1, 0},
	{"BeginQuorumEpoch", 1, 1}, {"EndQuorumEpoch", 1, 1}, {"DescribeQuorum", 2, 0},
	{"AlterPartition", 3, 0}, {"UpdateFeatures", 1, 0}, {"Envelope", 0, 0}, {"FetchSnapshot", 1, 0},
	{"DescribeCluster", 1, 0}, {"DescribeProducers", 0, 0}, {"BrokerRegistration", 4, 0},
	{"BrokerHeartbeat", 1, 0}, {"UnregisterBroker", 0, 0}, {"DescribeTransactions", 0, 0},
	{"ListTransactions", 1, 0}, {"AllocateProducerIds", 0, 0}, {"ConsumerGroupHeartbeat", 1, 0},
	{"ConsumerGroupDescribe", 1, 0}, {"ControllerRegistration", 0, 0},
	{"GetTelemetrySubscriptions", 0, 0}, {"PushTelemetry", 0, 0}, {"AssignReplicasToDirs", 0, 0},
	{"ListClientMetricsResources", 0, 0}, {"DescribeTopicPartitions", 0, 0},
	{"ShareGroupHeartbeat", 1, 0}, {"ShareGroupDescribe", 1, 0}, {"ShareFetch", 1, 0},
	{"ShareAcknowledge", 1, 0}, {"AddRaftVoter", 0, 0}, {"RemoveRaftVoter", 0, 0},
	{"UpdateRaftVoter", 0, 0}, {"InitializeShareGroupState", 0, 0}, {"ReadShareGroupState", 0, 0},
	{"WriteShareGroupState", 0, 0}, {"DeleteShareGroupState", 0, 0},
	{"ReadShareGroupStateSummary", 0, 0}, {"StreamsGroupHeartbeat", 0, 0},
	{"StreamsGroupDescribe", 0, 0}, {"DescribeShareGroupOffsets", 0, 0},
	{"AlterShareGroupOffsets", 0, 0}, {"DeleteShareGroupOffsets", 0, 0},
};
#define N_APIS ((int)(sizeof(apis) / sizeof(apis[0])))
#define VER_PLAUSIBLE 30 /* a version above this is not a request head */

enum { PRODUCE = 0, FETCH = 1, LIST_OFFSETS = 2, METADATA = 3, CONTROLLED_SHUTDOWN = 7,
       OFFSET_COMMIT = 8, OFFSET_FETCH = 9, FIND_COORDINATOR = 10, JOIN_GROUP = 11,
       HEARTBEAT = 12, LEAVE_GROUP = 13, SYNC_GROUP = 14, DESCRIBE_GROUPS = 15, LIST_GROUPS = 16,
       SASL_HANDSHAKE = 17, API_VERSIONS = 18, CREATE_TOPICS = 19, DELETE_TOPICS = 20,
       INIT_PRODUCER_ID = 22, ADD_PARTITIONS_TO_TXN = 24, ADD_OFFSETS_TO_TXN = 25, END_TXN = 26,
       TXN_OFFSET_COMMIT = 28, SASL_AUTHENTICATE = 36, DELETE_GROUPS = 42 };

/* Error codes -1..; index = code + 1. */
static const char *const errors[] = {
	"UNKNOWN_SERVER_ERROR", "NONE", "OFFSET_OUT_OF_RANGE", "CORRUPT_MESSAGE",
	"UNKNOWN_TOPIC_OR_PARTITION", "INVALID_FETCH_SIZE", "LEADER_NOT_AVAILABLE",
	"NOT_LEADER_OR_FOLLOWER", "REQUEST_TIMED_OUT", "BROKER_NOT_AVAILABLE",
	"REPLICA_NOT_AVAILABLE", "MESSAGE_TOO_LARGE", "STALE_CONTROLLER_EPOCH",
	"OFFSET_METADATA_TOO_LARGE", "NETWORK_EXCEPTION", "COORDINATOR_LOAD_IN_PROGRESS",
	"COORDINATOR_NOT_AVAILABLE", "NOT_COORDINATOR", "INVALID_TOPIC_EXCEPTION",
	"RECORD_LIST_TOO_LARGE", "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
	"INVALID_REQUIRED_ACKS", "ILLEGAL_GENERATION", "INCONSISTENT_GROUP_PROTOCOL",
	"INVALID_GROUP_ID", "UNKNOWN_MEMBER_ID", "INVALID_SESSION_TIMEOUT",
	"REBALANCE_IN_PROGRESS", "INVALID_COMMIT_OFFSET_SIZE", "TOPIC_AUTHORIZATION_FAILED",
	"GROUP_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED", "INVALID_TIMESTAMP",
	"UNSUPPORTED_SASL_MECHANISM", "ILLEGAL_SASL_STATE", "UNSUPPORTED_VERSION",
	"TOPIC_ALREADY_EXISTS", "INVALID_PARTITIONS", "INVALID_REPLICATION_FACTOR",
	"INVALID_REPLICA_ASSIGNMENT", "INVALID_CONFIG", "NOT_CONTROLLER", "INVALID_REQUEST",
	"UNSUPPORTED_FOR_MESSAGE_FORMAT", "POLICY_VIOLATION", "OUT_OF_ORDER_SEQUENCE_NUMBER",
	"DUPLICATE_SEQUENCE_NUMBER", "INVALID_PRODUCER_EPOCH", "INVALID_TXN_STATE",
	"INVALID_PRODUCER_ID_MAPPING", "INVALID_TRANSACTION_TIMEOUT",
	"CONCURRENT_TRANSACTIONS", "TRANSACTION_COORDINATOR_FENCED",
	"TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "SECURITY_DISABLED",
	"OPERATION_NOT_ATTEMPTED", "KAFKA_STORAGE_ERROR", "LOG_DIR_NOT_FOUND",
	"SASL_AUTHENTICATION_FAILED", "UNKNOWN_PRODUCER_ID", "REASSIGNMENT_IN_PROGRESS",
	"DELEGATION_TOKEN_AUTH_DISABLED", "DELEGATION_TOKEN_NOT_FOUND",
	"DELEGATION_TOKEN_OWNER_MISMATCH", "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",
	"DELEGATION_TOKEN_AUTHORIZATION_FAILED", "DELEGATION_TOKEN_EXPIRED",
	"INVALID_PRINCIPAL_TYPE", "NON_EMPTY_GROUP", "GROUP_ID_NOT_FOUND",
	"FETCH_SESSION_ID_NOT_FOUND", "INVALID_FETCH_SESSION_EPOCH", "LISTENER_NOT_FOUND",
	"TOPIC_DELETION_DISABLED", "FENCED_LEADER_EPOCH", "UNKNOWN_LEADER_EPOCH",
	"UNSUPPORTED_COMPRESSION_TYPE", "STALE_BROKER_EPOCH", "OFFSET_NOT_AVAILABLE",
	"MEMBER_ID_REQUIRED", "PREFERRED_LEADER_NOT_AVAILABLE", "GROUP_MAX_SIZE_REACHED",
	"FENCED_INSTANCE_ID", "ELIGIBLE_LEADERS_NOT_AVAILABLE", "ELECTION_NOT_NEEDED",
	"NO_REASSIGNMENT_IN_PROGRESS", "GROUP_SUBSCRIBED_TO_TOPIC", "INVALID_RECORD",
	"UNSTABLE_OFFSET_COMMIT", "THROTTLING_QUOTA_EXCEEDED", "PRODUCER_FENCED",
	"RESOURCE_NOT_FOUND", "DUPLICATE_RESOURCE", "UNACCEPTABLE_CREDENTIAL",
	"INCONSISTENT_VOTER_SET", "INVALID_UPDATE_VERSION", "FEATURE_UPDATE_FAILED",
	"PRINCIPAL_DESERIALIZATION_FAILURE", "SNAPSHOT_NOT_FOUND", "POSITION_OUT_OF_RANGE",
	"UNKNOWN_TOPIC_ID", "DUPLICATE_BROKER_REGISTRATION", "BROKER_ID_NOT_REGISTERED",
	"INCONSISTENT_TOPIC_ID", "INCONSISTENT_CLUSTER_ID", "TRANSACTIONAL_ID_NOT_FOUND",
	"FETCH_SESSION_TOPIC_ID_ERROR", "INELIGIBLE_REPLICA", "NEW_LEADER_ELECTED",
	"OFFSET_MOVED_TO_TIERED_STORAGE", "FENCED_MEMBER_EPOCH", "UNRELEASED_INSTANCE_ID",
	"UNSUPPORTED_ASSIGNOR", "STALE_MEMBER_EPOCH", "MISMATCHED_ENDPOINT_TYPE",
	"UNSUPPORTED_ENDPOINT_TYPE", "UNKNOWN_CONTROLLER_ID", "UNKNOWN_SUBSCRIPTION_ID",
	"TELEMETRY_TOO_LARGE", "INVALID_REGISTRATION",
};

static const char *const codecs[8] = {"none", "gzip", "snappy", "lz4", "zstd", "codec5", "codec6", "codec7"};

static const char *api_name(int k) { return k >= 0 && k < N_APIS ? apis[k].name : NULL; }

/* ---- state ------------------------------------------------------------------ */

/* One topic/partition of a request or its response; -1: not present. */
struct part {
	char topic[CAP + 1]; /* name (Fetch v13+: the topic id in hex) */
	int32_t partition;
	int has_err;
	int16_t err;
	int64_t records, bytes, hw, offset;
};

/* What one request (and then its response) says; -1: not present. */
struct info {
	int16_t api, ver;
	int32_t corr;
	int has_client;
	char client[CAP + 1], topic[CAP + 1], group[CAP + 1];
	int64_t topics, partitions, records, bytes, acks, throttle;
	int err;         /* first non-zero error code, or 0 */
	int has_err;     /* an error code was read */
	int codec;       /* -1, or the first batch's codec */
	char detail[DETAIL + 1];
	uint32_t dlen;
	struct part *parts; /* heap, the first PARTS_MAX; owned by the pend */
	uint32_t nparts, pcap;
};

struct pend {
	struct info x;
	uint64_t first_ts, last_ts, bytes;
	int lost; /* responses were lost in a gap after it was sent */
};

struct kdir {
	int st;
	uint8_t win[WIN]; /* the size bytes, or the resync window */
	uint32_t wlen;
	uint32_t size, got; /* body bytes declared / seen */
	uint8_t *buf;
	size_t cap;
	uint32_t keep;  /* body bytes kept in buf */
	int holed;      /* a gap fell inside this frame: keep no more */
	int starved;    /* the memory budget refused a bigger buffer for it */
	uint64_t first_ts, last_ts;
	uint64_t skipped, gapped; /* while resynchronising */
};

struct kafka {
	struct kdir d[2];
	struct pend *pend;
	uint32_t npend, cappend;
	int32_t last_corr;
	int have_corr;
	int client_len; /* length of the client id seen, -2: none yet */
};

/* ---- the bounds-checked reader ----------------------------------------------- */

struct dec {
	struct fr_cur c;
	uint64_t cut;     /* bytes of the frame after those kept (KEEP_MAX) */
	uint64_t blob;    /* d_bytes: the length the field declares */
	int flex;
	const char *why; /* what made the cursor fail, when not the frame's end */
};

static int64_t d_uvar(struct dec *d)
{
	uint64_t v = 0;
	for (int i = 0; i < 5; i++) {
		uint8_t b = cur_u8(&d->c);
		if (d->c.bad)
			return -1;
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (v <= 0xffffffffu)
				return (int64_t)v;
			break;
		}
	}
	d->why = "unsigned varint overflows 32 bits";
	d->c.bad = 1;
	return -1;
}

static int16_t d_i16(struct dec *d) { return (int16_t)cur_be16(&d->c); }
static int32_t d_i32(struct dec *d) { return (int32_t)cur_be32(&d->c); }
static void d_skip(struct dec *d, size_t n) { cur_skip(&d->c, n); }

/* A (compact) string or bytes: 0 and the span, 1 for null, -1 malformed. */
static int d_str(struct dec *d, const uint8_t **s, size_t *n)
{
	int64_t len = d->flex ? d_uvar(d) - 1 : d_i16(d);
	if (d->flex && len == -2)
		return -1;
	if (d->c.bad)
		return -1;
	if (len < 0) {
		*s = NULL;
		*n = 0;
		return 1;
	}
	if ((uint64_t)len > cur_left(&d->c)) {
		d->why = "string longer than the frame";
		d->c.bad = 1;
		return -1;
	}
	cur_bytes(&d->c, s, (size_t)len);
	*n = (size_t)len;
	return 0;
}

/* A bytes field (records); one that runs past the kept part of a frame
 * gives that part (*n), its declared length in d->blob. */
static int d_bytes(struct dec *d, const uint8_t **s, size_t *n)
{
	int64_t len = d->flex ? d_uvar(d) - 1 : d_i32(d);
	if (d->flex && len == -2)
		return -1;
	if (d->c.bad)
		return -1;
	if (len < 0) {
		*s = NULL;
		*n = 0;
		d->blob = 0;
		return 1;
	}
	d->blob = (uint64_t)len;
	if ((uint64_t)len > cur_left(&d->c) && (uint64_t)len <= cur_left(&d->c) + d->cut) {
		*n = cur_left(&d->c);
		cur_bytes(&d->c, s, *n);
		return 0;
	}
	if ((uint64_t)len > cur_left(&d->c)) {
		d->why = "bytes longer than the frame";
		d->c.bad = 1;
		return -1;
	}
	cur_bytes(&d->c, s, (size_t)len);
	*n = (size_t)len;
	return 0;
}

/* An array's element count (null counts 0); -1 when malformed.  Every
 * element takes at least one byte, so a count above the bytes left is a lie. */
static int64_t d_arr(struct dec *d)
{
	int64_t n = d->flex ? d_uvar(d) - 1 : d_i32(d);
	if (d->c.bad)
		return -1;
	if (n < 0)
		return 0;
	if ((uint64_t)n > cur_left(&d->c)) {
		d->why = "array declares more elements than the frame holds";
		d->c.bad = 1;
		return -1;
	}
	return n;
}

static void d_tags(struct dec *d)
{
	if (!d->flex)
		return;
	int64_t n = d_uvar(d);
	for (int64_t i = 0; i < n && !d->c.bad; i++) {
		d_uvar(d);
		int64_t sz = d_uvar(d);
		if (sz >= 0 && (uint64_t)sz > cur_left(&d->c)) {
			d->why = "tagged field longer than the frame";
			d->c.bad = 1;
		}
		d_skip(d, sz > 0 ? (size_t)sz : 0);
	}
}

static void d_skip_str(struct dec *d)
{
	const uint8_t *s;
	size_t n;
	d_str(d, &s, &n);
}

/* Skips an array of fixed-size elements (int32 lists). */
static void d_skip_arr(struct dec *d, size_t esz)
{
	int64_t n = d_arr(d);
	if (n > 0)
		d_skip(d, (size_t)n * esz);
}

static void keep_name(char *dst, const uint8_t *s, size_t n)
{
	if (n > CAP)
		n = CAP;
	for (size_t i = 0; i < n; i++)
		dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	dst[n] = 0;
}

/* ---- detail accumulation ------------------------------------------------------ */

static void x_topic(struct info *x, const uint8_t *s, size_t n)
{
	x->topics = x->topics < 0 ? 1 : x->topics + 1;
	if (x->topics == 1 && s)
		keep_name(x->topic, s, n);
}

static void x_uuid(struct info *x, struct dec *d)
{
	const uint8_t *u = NULL;
	if (cur_bytes(&d->c, &u, 16))
		return;
	x->topics = x->topics < 0 ? 1 : x->topics + 1;
	if (x->topics == 1)
		for (int i = 0; i < 16; i++)
			snprintf(x->topic + 2 * i, 3, "%02x", u[i]);
}

static void x_error(struct info *x, int16_t e)
{
	x->has_err = 1;
	if (e && !x->err)
		x->err = e;
}

static void x_add(int64_t *v, int64_t n) { *v = *v < 0 ? n : *v + n; }

/* The row of topic/partition in x->parts, added when new; NULL past
 * PARTS_MAX (or out of memory). */
static struct part *x_part(struct info *x, const char *topic, int32_t partition)
{
	for (uint32_t i = x->nparts; i-- > 0;)
		if (x->parts[i].partition == partition && !strcmp(x->parts[i].topic, topic))
			return &x->parts[i];
	if (x->nparts == PARTS_MAX)
		return NULL;
	if (x->nparts == x->pcap) {
		size_t bytes = x->pcap * sizeof(*x->parts);
		x->parts = fr_grow(x->parts, &bytes, (x->nparts + 1) * sizeof(*x->parts), 4 * sizeof(*x->parts));
		x->pcap = (uint32_t)(bytes / sizeof(*x->parts));
	}
	struct part *t = &x->parts[x->nparts++];
	memset(t, 0, sizeof(*t));
	snprintf(t->topic, sizeof(t->topic), "%s", topic);
	t->partition = partition;
	t->records = t->bytes = t->hw = t->offset = -1;
	return t;
}

/* x_part with a name from the wire */
static struct part *x_part_n(struct info *x, const uint8_t *name, size_t nn, int32_t partition)
{
	char t[CAP + 1];
	keep_name(t, name ? name : (const uint8_t *)"", name ? nn : 0);
	return x_part(x, t, partition);
}

static void x_free(struct info *x)
{
	free(x->parts);
	x->parts = NULL;
	x->nparts = x->pcap = 0;
}

/* Appends "topic/partition key=value..." items to the detail text. */
static void x_detail(struct info *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void x_detail(struct info *x, const char *fmt, ...)
{
	if (x->dlen >= DETAIL)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(x->detail + x->dlen, DETAIL + 1 - x->dlen, fmt, ap);
	va_end(ap);
	if (k > 0)
		x->dlen = x->dlen + (uint32_t)k > DETAIL ? DETAIL : x->dlen + (uint32_t)k;
}

/* Record batches (magic 2) or message sets (magic 0/1) in a records field:
 * adds their record count and bytes; the codec of the first.  A batch cut
 * at the end (fetch responses may end with a partial one) is not counted. */
static void x_records(struct info *x, const uint8_t *p, size_t n, uint64_t declared, int64_t *recs)
{
	struct fr_cur c;
	cur_init(&c, p, n);
	x_add(&x->bytes, (int64_t)declared);
	while (cur_left(&c) >= 17) {
		const uint8_t *b = c.p;
		int32_t len = (int32_t)((uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 | (uint32_t)b[10] << 8 | b[11]);
		if (len < 5 || (uint64_t)len + 12 > cur_left(&c))
			break;
		uint8_t magic = b[16];
		int codec = -1;
		int64_t count = 0;
		if (magic == 2 && len >= 49) {
			uint16_t attr = (uint16_t)(b[21] << 8 | b[22]);
			codec = attr & 7;
			if (!(attr & 0x20)) /* not a control batch */
				count = (int32_t)((uint32_t)b[57] << 24 | (uint32_t)b[58] << 16 |
						  (uint32_t)b[59] << 8 | b[60]);
		} else if (magic < 2 && len >= 6) {
			codec = b[17] & 7;
			count = 1;
		}
		if (codec >= 0 && x->codec < 0)
			x->codec = codec;
		if (count > 0)
			*recs += count;
		cur_skip(&c, (size_t)len + 12);
	}
}

/* ---- requests ----------------------------------------------------------------- */

static void req_produce(struct dec *d, int v, struct info *x)
{
	if (v >= 3)
		d_skip_str(d); /* transactional id */
	x->acks = d_i16(d);
	d_skip(d, 4); /* timeout */
	int64_t nt = d_arr(d);
	for (int64_t t = 0; t < nt && !d->c.bad; t++) {
		const uint8_t *name = NULL;
		size_t nn = 0;
		d_str(d, &name, &nn);
		x_topic(x, name, nn);
		int64_t np = d_arr(d);
		for (int64_t i = 0; i < np && !d->c.bad; i++) {
			int32_t part = d_i32(d);
			const uint8_t *r = NULL;
			size_t rn = 0;
			if (d_bytes(d, &r, &rn) < 0)
				break;
			int64_t recs = 0;
			int before = x->codec;
			x_records(x, r, rn, d->blob, &recs);
			x_add(&x->records, recs);
			x_add(&x->partitions, 1);
			struct part *pt = x_part_n(x, name, nn, part);
			if (pt)
				pt->records = recs, pt->bytes = (int64_t)d->blob;
			x_detail(x, "%s%.*s/%d records=%lld bytes=%zu%s%s", x->dlen ? " " : "", (int)(nn > CAP ? CAP : nn),
				 name ? (const char *)name : "", part, (long long)recs, rn, before < 0 && x->codec >= 0 ? " " : "",
				 before < 0 && x->codec >= 0 ? codecs[x->codec] : "");
			d_tags(d);
		}
		d_tags(d);
	}
}

static void req_fetch(struct dec *d, int v, struct info *x)
{
	if (v <= 14)
		d_skip(d, 4); /* replica id */
	d_skip(d, 8);         /* max wait, min bytes */
	d_skip(d, (v >= 3 ? 4 : 0) + (v >= 4 ? 1 : 0) + (v >= 7 ? 8 : 0));
	int64_t nt = d_arr(d);
	for (int64_t t = 0; t < nt && !d->c.bad; t++) {
		char topic[CAP + 1] = "";
		if (v >= 13) {
			const uint8_t *u = d->c.p;
			x_uuid(x, d);
			if (!d->c.bad)
				for (int i = 0; i < 16; i++)
					snprintf(topic + 2 * i, 3, "%02x", u[i]);
		} else {
			const uint8_t *name = NULL;
			size_t nn = 0;
			d_str(d, &name, &nn);
			x_topic(x, name, nn);
			keep_name(topic, name ? name : (const uint8_t *)"", name ? nn : 0);
		}
		int64_t np = d_arr(d);
		for (int64_t i = 0; i < np && !d->c.bad; i++) {
			int32_t part = d_i32(d);
			d_skip(d, (v >= 9 ? 4 : 0) + 8 + (v >= 12 ? 4 : 0) + (v >= 5 ? 8 : 0) + 4);
			d_tags(d);
			x_add(&x->partitions, 1);
			if (!d->c.bad)
				x_part(x, topic, part);
		}
		d_tags(d);
	}
}

/* The topic list of ListOffsets, OffsetCommit, OffsetFetch (v0-7),
 * AddPartitionsToTxn (v0-3): name, then partitions of psz bytes (0: an
 * int32 list; -1: OffsetCommit's, with a metadata string). */
static void req_topics(struct dec *d, int v, struct info *x, int psz)
{
	int64_t nt = d_arr(d);
	for (int64_t t = 0; t < nt && !d->c.bad; t++) {
		const uint8_t *name = NULL;
		size_t nn = 0;
		d_str(d, &name, &nn);
		x_topic(x, name, nn);
		int64_t np = d_arr(d);
		for (int64_t i = 0; i < np && !d->c.bad; i++) {
			x_add(&x->partitions, 1);
			int32_t part = d_i32(d);
			int64_t off = -1;
			if (psz > 0) {
				d_skip(d, (size_t)psz - 4);
				d_tags(d);
			} else if (psz < 0) { /* OffsetCommit: the committed offset */
				uint64_t hi = cur_be32(&d->c);
				off = (int64_t)(hi << 32 | cur_be32(&d->c));
				d_skip(d, (v >= 6 ? 4 : 0) + (v == 1 ? 8 : 0));
				d_skip_str(d);
				d_tags(d);
			}
			struct part *pt = d->c.bad ? NULL : x_part_n(x, name, nn, part);
			if (pt)
				pt->offset = off;
		}
		d_tags(d);
	}
}

static void req_group(struct dec *d, struct info *x)
{
	const uint8_t *s = NULL;
	size_t n = 0;
	if (d_str(d, &s, &n) == 0)
		keep_name(x->group, s, n);
}

static void req_text(struct dec *d, struct info *x, const char *key)
{
	const uint8_t *s = NULL;
	size_t n = 0;
	if (d_str(d, &s, &n) == 0)
		x_detail(x, "%s%s=%.*s", x->dlen ? " " : "", key, (int)(n > CAP ? CAP : n), (const char *)s);
}

static void req_body(struct dec *d, struct info *x)
{
	int v = x->ver;
	switch (x->api) {
	case PRODUCE: req_produce(d, v, x); break;
	case FETCH: req_fetch(d, v, x); break;
	case LIST_OFFSETS:
		d_skip(d, 4 + (v >= 2 ? 1 : 0));
		req_topics(d, v, x, 4 + (v >= 4 ? 4 : 0) + 8 + (v == 0 ? 4 : 0));
		break;
	case METADATA: {
		int64_t nt = d_arr(d);
		for (int64_t t = 0; t < nt && !d->c.bad; t++) {
			if (v >= 10)
				d_skip(d, 16);
			const uint8_t *name = NULL;
			size_t nn = 0;
			d_str(d, &name, &nn);
			x_topic(x, name, nn);
			d_tags(d);
		}
		break;
	}
	case OFFSET_COMMIT:
		req_group(d, x);
		if (v >= 1) {
			d_skip(d, 4);
			d_skip_str(d);
		}
		if (v >= 7)
			d_skip_str(d);
		if (v >= 2 && v <= 4)
			d_skip(d, 8);
		req_topics(d, v, x, -1);
		break;
	case OFFSET_FETCH:
		if (v <= 7) {
			req_group(d, x);
			req_topics(d, v, x, 0);
		} else if (d_arr(d) > 0) {
			req_group(d, x); /* the first group */
			if (v >= 9) {
				d_skip_str(d);
				d_skip(d, 4);
			}
			req_topics(d, v, x, 0);
		}
		break;
	case FIND_COORDINATOR:
		if (v >= 4) {
			d_skip(d, 1);
			if (d_arr(d) > 0)
				req_group(d, x);
		} else {
			req_group(d, x);
		}
		break;
	case JOIN_GROUP: case HEARTBEAT: case LEAVE_GROUP: case SYNC_GROUP: case ADD_OFFSETS_TO_TXN:
	case TXN_OFFSET_COMMIT:
		if (x->api == ADD_OFFSETS_TO_TXN || x->api == TXN_OFFSET_COMMIT) {
			req_text(d, x, "transactional_id");
			if (x->api == ADD_OFFSETS_TO_TXN)
				d_skip(d, 10);
		}
		req_group(d, x);
		break;
	case DESCRIBE_GROUPS: case DELETE_GROUPS: {
		int64_t n = d_arr(d);
		if (n > 0)
			req_group(d, x);
		if (n > 1)
			x_detail(x, "groups=%lld", (long long)n);
		break;
	}
	case SASL_HANDSHAKE: req_text(d, x, "mechanism"); break;
	case API_VERSIONS:
		if (v >= 3) {
			req_text(d, x, "software");
			req_text(d, x, "software_version");
		}
		break;
	case CREATE_TOPICS: case DELETE_TOPICS: {
		int64_t nt = d_arr(d);
		for (int64_t t = 0; t < nt && !d->c.bad; t++) {
			const uint8_t *name = NULL;
			size_t nn = 0;
			d_str(d, &name, &nn);
			x_topic(x, name, nn);
			if (x->api == DELETE_TOPICS && v >= 6) {
				d_skip(d, 16);
				d_tags(d);
			} else if (x->api == CREATE_TOPICS) {
				x->topics = nt; /* the first topic's name only */
				break;
			}
		}
		break;
	}
	case INIT_PRODUCER_ID: case END_TXN: req_text(d, x, "transactional_id"); break;
	case ADD_PARTITIONS_TO_TXN:
		if (v <= 3) {
			req_text(d, x, "transactional_id");
			d_skip(d, 10);
			req_topics(d, v, x, 0);
		}
		break;
	default:
		break; /* SaslAuthenticate: the auth bytes are never read */
	}
}

/* ---- responses ---------------------------------------------------------------- */

static void resp_produce(struct dec *d, int v, struct info *x)
{
	int64_t nt = d_arr(d);
	for (int64_t t = 0; t < nt && !d->c.bad; t++) {
		const uint8_t *name = NULL;
		size_t nn = 0;
		d_str(d, &name, &nn);
		int64_t np = d_arr(d);
		for (int64_t i = 0; i < np && !d->c.bad; i++) {
			int32_t part = d_i32(d);
			int16_t e = d_i16(d);
			x_error(x, e);
			if (e)
				x_detail(x, "%s%.*s/%d error=%d", x->dlen ? " " : "", (int)(nn > CAP ? CAP : nn),
					 name ? (const char *)name : "", part, e);
			uint64_t hi = cur_be32(&d->c);
			int64_t base = (int64_t)(hi << 32 | cur_be32(&d->c));
			d_skip(d, (v >= 2 ? 8 : 0) + (v >= 5 ? 8 : 0));
			struct part *pt = d->c.bad ? NULL : x_part_n(x, name, nn, part);
			if (pt)
				pt->has_err = 1, pt->err = e, pt->offset = base;
			if (v >= 8) {
				int64_t ne = d_arr(d);
				for (int64_t k = 0; k < ne && !d->c.bad; k++) {
					d_skip(d, 4);
					d_skip_str(d);
					d_tags(d);
				}
				d_skip_str(d);
			}
			d_tags(d);
		}
		d_tags(d);
	}
	if (v >= 1)
		x->throttle = d_i32(d);
}

static void resp_fetch(struct dec *d, int v, struct info *x)
{
	if (v >= 1)
		x->throttle = d_i32(d);
	if (v >= 7) {
		x_error(x, d_i16(d));
		d_skip(d, 4);
	}
	int64_t nt = d_arr(d), recs = 0;
	for (int64_t t = 0; t < nt && !d->c.bad; t++) {
		const uint8_t *name = NULL;
		size_t nn = 0;
		char id[33] = "";
		const uint8_t *u16 = NULL;
		if (v >= 13) {
			const uint8_t *u = NULL;
			if (!cur_bytes(&d->c, &u, 16) && (u16 = u))
				for (int i = 0; i < 8; i++) /* the first half names it in the detail */
					snprintf(id + 2 * i, 3, "%02x", u[i]);
			name = (const uint8_t *)id;
			nn = strlen(id);
		} else {
			d_str(d, &name, &nn);
		}
		int64_t np = d_arr(d);
		for (int64_t i = 0; i < np && !d->c.bad; i++) {
			int32_t part = d_i32(d);
			int16_t e = d_i16(d);
			x_error(x, e);
			uint64_t hi = cur_be32(&d->c);
			int64_t hw = (int64_t)(hi << 32 | cur_be32(&d->c));
			d_skip(d, (v >= 4 ? 8 : 0) + (v >= 5 ? 8 : 0));
			if (v >= 4) {
				int64_t na = d_arr(d);
				for (int64_t k = 0; k < na && !d->c.bad; k++) {
					d_skip(d, 16);
					d_tags(d);
				}
			}
			if (v >= 11)
				d_skip(d, 4);
			const uint8_t *r = NULL;
			size_t rn = 0;
			if (d_bytes(d, &r, &rn) < 0)
				break;
			int64_t n = 0;
			x_records(x, r, rn, d->blob, &n);
			recs += n;
			char topic[CAP + 1];
			keep_name(topic, name ? name : (const uint8_t *)"", name ? nn : 0);
			if (v >= 13 && u16)
				for (int k = 0; k < 16; k++)
					snprintf(topic + 2 * k, 3, "%02x", u16[k]);
			struct part *pt = x_part(x, topic, part);
			if (pt)
				pt->has_err = 1, pt->err = e, pt->hw = hw, pt->records = n, pt->bytes = (int64_t)d->blob;
			x_detail(x, "%s%.*s/%d hw=%lld records=%lld%s", x->dlen ? " " : "", (int)(nn > CAP ? CAP : nn),
				 name ? (const char *)name : "", part, (long long)hw, (long long)n, e ? " error" : "");
			if (e)
				x_detail(x, "=%d", e);
			d_tags(d);
		}
		d_tags(d);
	}
	x_add(&x->records, recs);
}

static void resp_metadata(struct dec *d, int v, struct info *x)
{
	if (v >= 3)
		x->throttle = d_i32(d);
	int64_t nb = d_arr(d);
	for (int64_t i = 0; i < nb && !d->c.bad; i++) {
		d_skip(d, 4);
		d_skip_str(d);
		d_skip(d, 4);
		if (v >= 1)
			d_skip_str(d);
		d_tags(d);
	}
	if (v >= 2)
		d_skip_str(d);
	if (v >= 1)
		d_skip(d, 4);
	int64_t nt = d_arr(d);
	for (int64_t t = 0; t < nt && !d->c.bad; t++) {
		x_error(x, d_i16(d));
		const uint8_t *name = NULL;
		size_t nn = 0;
		d_str(d, &name, &nn);
		if (!x->topic[0])
			x_topic(x, name, nn);
		d_skip(d, (v >= 10 ? 16 : 0) + (v >= 1 ? 1 : 0));
		int64_t np = d_arr(d);
		for (int64_t i = 0; i < np && !d->c.bad; i++) {
			x_error(x, d_i16(d));
			d_skip(d, 8 + (v >= 7 ? 4 : 0));
			d_skip_arr(d, 4);
			d_skip_arr(d, 4);
			if (v >= 5)
				d_skip_arr(d, 4);
			d_tags(d);
		}
		x_add(&x->partitions, np);
		if (v >= 8)
			d_skip(d, 4);
		d_tags(d);
	}
	if (x->topics < 0 || x->topics < nt)
		x->topics = nt;
}

/* Topics, each with partitions that start with index:int32 error:int16 and
 * go on for rest bytes (OffsetCommit, ListOffsets, AddPartitionsToTxn v0-3);
 * rest -1: OffsetFetch's (offset, leader epoch, metadata). */
static void resp_topics(struct dec *d, int v, struct info *x, int rest)
{
	int64_t nt = d_arr(d);
	for (int64_t t = 0; t < nt && !d->c.bad; t++) {
		const uint8_t *name = NULL;
		size_t nn = 0;
		d_str(d, &name, &nn);
		int64_t np = d_arr(d);
		for (int64_t i = 0; i < np && !d->c.bad; i++) {
			int32_t part = d_i32(d);
			int64_t off = -1;
			if (rest == -1) { /* OffsetFetch: the committed offset */
				uint64_t hi = cur_be32(&d->c);
				off = (int64_t)(hi << 32 | cur_be32(&d->c));
				d_skip(d, v >= 5 ? 4 : 0);
				d_skip_str(d);
			}
			int16_t e = d_i16(d);
			x_error(x, e);
			if (rest == -2) { /* ListOffsets v0: a list of offsets, the first kept */
				int64_t no = d_arr(d);
				for (int64_t k = 0; k < no && !d->c.bad; k++) {
					uint64_t hi = cur_be32(&d->c);
					uint64_t lo = cur_be32(&d->c);
					if (k == 0)
						off = (int64_t)(hi << 32 | lo);
				}
			} else if (rest > 0 && x->api == LIST_OFFSETS) { /* timestamp, offset */
				d_skip(d, 8);
				uint64_t hi = cur_be32(&d->c);
				off = (int64_t)(hi << 32 | cur_be32(&d->c));
				d_skip(d, (size_t)rest - 16);
			} else if (rest > 0) {
				d_skip(d, (size_t)rest);
			}
			struct part *pt = d->c.bad ? NULL : x_part_n(x, name, nn, part);
			if (pt)
				pt->has_err = 1, pt->err = e, pt->offset = off;
			d_tags(d);
		}
		d_tags(d);
	}
}

/* Responses that start [throttle_time_ms] error_code: the version from
 * which the throttle comes first (99: never). */
static int head_throttle(int api, int v)
{
	switch (api) {
	case FIND_COORDINATOR: return v >= 4 ? 99 : 1;
	case JOIN_GROUP: return 2;
	case HEARTBEAT: case LEAVE_GROUP: case SYNC_GROUP: case LIST_GROUPS: return 1;
	case INIT_PRODUCER_ID: case ADD_OFFSETS_TO_TXN: case END_TXN: return 0;
	case SASL_HANDSHAKE: case SASL_AUTHENTICATE: return 99;
	default: return -1;
	}
}

static void resp_body(struct dec *d, struct info *x)
{
	int v = x->ver, ht = head_throttle(x->api, v);
	if (ht >= 0) {
		if (v >= ht && ht != 99)
			x->throttle = d_i32(d);
		if (x->api == FIND_COORDINATOR && v >= 4) {
			x->throttle = d_i32(d);
			if (d_arr(d) > 0) {
				d_skip_str(d);
				d_skip(d, 4);
				d_skip_str(d);
				d_skip(d, 4);
				x_error(x, d_i16(d));
			}
			return;
		}
		x_error(x, d_i16(d)); /* SaslAuthenticate: nothing after it is read */
		return;
	}
	switch (x->api) {
	case PRODUCE: resp_produce(d, v, x); break;
	case FETCH: resp_fetch(d, v, x); break;
	case METADATA: resp_metadata(d, v, x); break;
	case LIST_OFFSETS:
		if (v >= 2)
			x->throttle = d_i32(d);
		resp_topics(d, v, x, v == 0 ? -2 : 16 + (v >= 4 ? 4 : 0));
		break;
	case OFFSET_COMMIT:
		if (v >= 3)
			x->throttle = d_i32(d);
		resp_topics(d, v, x, 0);
		break;
	case OFFSET_FETCH:
		if (v >= 3)
			x->throttle = d_i32(d);
		if (v <= 7) {
			resp_topics(d, v, x, -1);
			if (v >= 2)
				x_error(x, d_i16(d));
		} else if (d_arr(d) > 0) { /* the first group */
			d_skip_str(d);
			resp_topics(d, v, x, -1);
			x_error(x, d_i16(d));
		}
		break;
	case DESCRIBE_GROUPS:
		if (v >= 1)
			x->throttle = d_i32(d);
		if (d_arr(d) > 0)
			x_error(x, d_i16(d));
		break;
	case API_VERSIONS: {
		x_error(x, d_i16(d));
		int64_t n = d_arr(d);
		for (int64_t i = 0; i < n && !d->c.bad; i++) {
			d_skip(d, 6);
			d_tags(d);
		}
		if (v >= 1)
			x->throttle = d_i32(d);
		if (!d->c.bad)
			x_detail(x, "%sapi_keys=%lld", x->dlen ? " " : "", (long long)n);
		break;
	}
	case CREATE_TOPICS:
		if (v >= 2)
			x->throttle = d_i32(d);
		if (d_arr(d) > 0) {
			d_skip_str(d);
			d_skip(d, v >= 7 ? 16 : 0);
			x_error(x, d_i16(d));
		}
		break;
	case DELETE_TOPICS: {
		if (v >= 1)
			x->throttle = d_i32(d);
		int64_t n = d_arr(d);
		for (int64_t i = 0; i < n && !d->c.bad; i++) {
			d_skip_str(d);
			d_skip(d, v >= 6 ? 16 : 0);
			x_error(x, d_i16(d));
			if (v >= 5)
				d_skip_str(d);
			d_tags(d);
		}
		break;
	}
	case ADD_PARTITIONS_TO_TXN:
		x->throttle = d_i32(d);
		if (v >= 4)
			x_error(x, d_i16(d));
		else
			resp_topics(d, v, x, 0);
		break;
	case TXN_OFFSET_COMMIT:
		x->throttle = d_i32(d);
		resp_topics(d, v, x, 0);
		break;
	default:
		break;
	}
}

/* 1: the api's body is decoded (the table at the top). */
static int decoded_here(int api)
{
	return api <= FETCH || api == LIST_OFFSETS || api == METADATA || (api >= OFFSET_COMMIT && api <= CREATE_TOPICS) ||
	       api == DELETE_TOPICS || api == INIT_PRODUCER_ID || (api >= ADD_PARTITIONS_TO_TXN && api <= END_TXN) ||
	       api == TXN_OFFSET_COMMIT || api == SASL_AUTHENTICATE || api == DELETE_GROUPS;
}

/* ---- output --------------------------------------------------------------------- */

static void info_init(struct info *x)
{
	memset(x, 0, sizeof(*x));
	x->topics = x->partitions = x->records = x->bytes = x->throttle = -1;
	x->acks = ACKS_NONE;
	x->codec = -1;
}

static const char *err_name(int e, char *buf, size_t n)
{
	if (e >= -1 && e + 1 < (int)(sizeof(errors) / sizeof(errors[0])))
		return errors[e + 1];
	snprintf(buf, n, "ERROR_%d", e);
	return buf;
}

static void field_i(struct fr_req *q, const char *name, int64_t v)
{
	if (v >= 0)
		fr_field_int(q, name, v);
	else
		fr_field_str(q, name, NULL);
}

static void field_s(struct fr_req *q, const char *name, const char *s)
{
	fr_field_str(q, name, s && s[0] ? s : NULL);
}

#define PART_COLS 7

static struct fr_field cf_int(const char *name, int64_t v)
{
	struct fr_field f = {name, v >= 0 ? FR_F_INT : FR_F_NULL, v, NULL, 0};
	return f;
}

/* The kafka_partitions rows of a request (q) and its response (r, or
 * NULL): the request's topic/partitions, each with what the response says
 * of it, then those only the response names; at most PARTS_MAX, merged in
 * *mp (zeroed by the caller, then freed with x_free).  Fields in *out and
 * their error names in *names (heap, the caller frees them; they point
 * into *mp); the number of rows. */
static int part_rows(const struct info *q, const struct info *r, struct info *mp, struct fr_field **out,
		     char **names)
{
	*out = NULL;
	*names = NULL;
	uint32_t nq = q ? q->nparts : 0, nr = r ? r->nparts : 0;
	if (!nq && !nr)
		return 0;
	struct info m = *mp;
	for (uint32_t i = 0; i < nq; i++) {
		struct part *t = x_part(&m, q->parts[i].topic, q->parts[i].partition);
		if (t)
			*t = q->parts[i];
	}
	for (uint32_t i = 0; i < nr; i++) {
		const struct part *a = &r->parts[i];
		struct part *t = x_part(&m, a->topic, a->partition);
		if (!t)
			continue;
		if (a->has_err)
			t->has_err = 1, t->err = a->err;
		if (a->records >= 0)
			t->records = a->records;
		if (a->bytes >= 0)
			t->bytes = a->bytes;
		if (a->hw >= 0)
			t->hw = a->hw;
		if (a->offset >= 0)
			t->offset = a->offset;
	}
	*mp = m;
	struct fr_field *f = malloc((size_t)m.nparts * PART_COLS * sizeof(*f));
	char *nb = malloc((size_t)m.nparts * 24);
	if (!f || !nb) {
		free(f);
		free(nb);
		return 0;
	}
	for (uint32_t i = 0; i < m.nparts; i++) {
		const struct part *t = &m.parts[i];
		struct fr_field *g = f + i * PART_COLS;
		char *e = nb + 24 * i;
		g[0] = (struct fr_field){"topic", FR_F_TEXT, 0, t->topic, strlen(t->topic)};
		g[1] = (struct fr_field){"partition", FR_F_INT, t->partition, NULL, 0};
		if (t->has_err) {
			const char *s = err_name(t->err, e, 24);
			if (s != e)
				snprintf(e, 24, "%s", s);
			g[2] = (struct fr_field){"error_code", FR_F_TEXT, 0, e, strlen(e)};
		} else {
			g[2] = (struct fr_field){"error_code", FR_F_NULL, 0, NULL, 0};
		}
		g[3] = cf_int("records", t->records);
		g[4] = cf_int("bytes", t->bytes);
		g[5] = cf_int("high_watermark", t->hw);
		g[6] = cf_int("offset", t->offset);
	}
	*out = f;
	*names = nb;
	return (int)m.nparts;
}

/* One row: a request (p, or NULL for an orphan response) and its response
 * (r, or NULL).  The response's detail fills what the request left empty. */
static void emit(struct fr_pctx *ctx, const struct pend *p, const struct info *r, const struct kdir *rd,
		 int32_t corr, const char *reason)
{
	struct fr_req q;
	memset(&q, 0, offsetof(struct fr_req, f)); /* the fields: as many as n_fields says */
	struct info m;
	if (p)
		m = p->x;
	else
		info_init(&m), m.api = -1, m.corr = corr;
	char nbuf[16], ebuf[24], summary[2 * CAP + 48], endpoint[CAP + 48], detail[2 * DETAIL + 4];
	const char *name = api_name(m.api);
	if (!name && m.api >= 0)
		snprintf(nbuf, sizeof(nbuf), "api%d", m.api), name = nbuf;
	if (r) {
		if (m.topics < 0)
			m.topics = r->topics, memcpy(m.topic, r->topic, sizeof(m.topic));
		if (m.partitions < 0)
			m.partitions = r->partitions;
		if (m.records < 0)
			m.records = r->records;
		if (m.bytes < 0)
			m.bytes = r->bytes;
		if (m.codec < 0)
			m.codec = r->codec;
		m.throttle = r->throttle;
		m.err = r->err;
		m.has_err = r->has_err;
	}
	snprintf(detail, sizeof(detail), "%s%s%s", m.detail, m.dlen && r && r->dlen ? " ; " : "", r ? r->detail : "");
	const char *key = m.group[0] ? m.group : m.topic;
	if (p) {
		if (key[0])
			snprintf(summary, sizeof(summary), "%s v%d %s", name, m.ver, key);
		else
			snprintf(summary, sizeof(summary), "%s v%d", name, m.ver);
		snprintf(endpoint, sizeof(endpoint), "%s%s%s", name, key[0] ? " " : "", key);
		q.req_first_ns = p->first_ts;
		q.req_last_ns = p->last_ts;
		q.req_bytes = p->bytes;
		q.endpoint = endpoint;
	} else {
		snprintf(summary, sizeof(summary), "(response without request)");
	}
	q.summary = summary;
	if (r) {
		q.status = m.has_err ? err_name(m.err, ebuf, sizeof(ebuf)) : "response";
		q.error = m.err != 0;
		q.resp_first_ns = rd->first_ts;
		q.resp_last_ns = rd->last_ts;
		q.resp_bytes = (uint64_t)rd->size + 4;
	} else {
		q.error = !(p && m.api == PRODUCE && m.acks == 0);
	}
	q.reason = reason;
	fr_field_str(&q, "api", p ? name : NULL);
	field_i(&q, "api_version", p ? m.ver : -1);
	fr_field_int(&q, "correlation_id", m.corr);
	field_s(&q, "client_id", m.has_client ? m.client : NULL);
	field_s(&q, "topic", m.topic);
	field_i(&q, "topics", m.topics);
	field_i(&q, "partitions", m.partitions);
	field_i(&q, "records", m.records);
	field_i(&q, "bytes", m.bytes);
	if (m.api == PRODUCE && p && m.acks != ACKS_NONE) /* -1: all in-sync replicas */
		fr_field_int(&q, "acks", m.acks);
	else
		fr_field_str(&q, "acks", NULL);
	field_s(&q, "compression", m.codec >= 0 ? codecs[m.codec] : NULL);
	field_s(&q, "error_code", r && m.has_err ? err_name(m.err, ebuf, sizeof(ebuf)) : NULL);
	field_i(&q, "throttle_ms", m.throttle);
	field_s(&q, "group_id", m.group);
	field_s(&q, "detail", detail);
	struct info pm;
	memset(&pm, 0, sizeof(pm));
	struct fr_field *cf;
	char *names;
	q.n_child = part_rows(p ? &p->x : NULL, r, &pm, &cf, &names);
	q.child = cf;
	q.child_cols = PART_COLS;
	ctx->emit_request(ctx, &q);
	free(cf);
	free(names);
	x_free(&pm);
}

/* ---- pairing ---------------------------------------------------------------------- */

static void pend_drop(struct kafka *s, uint32_t i)
{
	x_free(&s->pend[i].x);
	memmove(&s->pend[i], &s->pend[i + 1], (s->npend - i - 1) * sizeof(*s->pend));
	s->npend--;
}

static void anomaly_at(struct fr_pctx *ctx, uint64_t ts, const char *kind, const char *what, const struct info *x)
{
	char buf[200];
	const char *n = api_name(x->api);
	snprintf(buf, sizeof(buf), "kafka: %s (%s v%d, correlation id %d)", what, n ? n : "unknown api", x->ver,
		 x->corr);
	ctx->anomaly(ctx, ts, kind, buf);
}

/* A whole request frame (what of it was kept). */
static void on_request(struct kafka *s, struct fr_pctx *ctx, struct kdir *k)
{
	struct dec d = {.flex = 0, .cut = k->size - k->keep};
	cur_init(&d.c, k->buf, k->keep);
	struct pend p = {.first_ts = k->first_ts, .last_ts = k->last_ts, .bytes = (uint64_t)k->size + 4};
	info_init(&p.x);
	p.x.api = d_i16(&d);
	p.x.ver = d_i16(&d);
	p.x.corr = d_i32(&d);
	int api = p.x.api;
	if (d.c.bad || api < 0 || p.x.ver < 0 || p.x.ver > VER_PLAUSIBLE) {
		ctx->anomaly(ctx, k->last_ts, "parse_error", "kafka: frame without a plausible request header");
		return;
	}
	if (!(api == CONTROLLED_SHUTDOWN && p.x.ver == 0)) {
		const uint8_t *cid;
		size_t n;
		if (d_str(&d, &cid, &n) == 0) {
			keep_name(p.x.client, cid, n);
			p.x.has_client = 1;
			s->client_len = (int)n;
		}
	}
	d.flex = api < N_APIS && p.x.ver >= apis[api].flex;
	d_tags(&d);
	s->last_corr = p.x.corr;
	s->have_corr = 1;
	if (api < N_APIS && p.x.ver <= apis[api].max && decoded_here(api) && !d.c.bad) {
		req_body(&d, &p.x);
	}
	if (d.c.bad && (d.why || (k->keep == k->size && !k->holed)))
		anomaly_at(ctx, k->last_ts, "parse_error", d.why ? d.why : "request shorter than its fields", &p.x);
	if (api == PRODUCE && p.x.acks == 0) { /* no response by design */
		emit(ctx, &p, NULL, NULL, 0, "acks=0: no response by design");
		x_free(&p.x);
		return;
	}
	if (s->npend == PEND_MAX) {
		ctx->anomaly(ctx, k->last_ts, "bound_exceeded",
			     "kafka: more than 1024 requests waiting; oldest reported unanswered");
		emit(ctx, &s->pend[0], NULL, NULL, 0, "too many requests waiting");
		pend_drop(s, 0);
	}
	if (s->npend == s->cappend) {
		size_t bytes = s->cappend * sizeof(*s->pend);
		s->pend = fr_grow(s->pend, &bytes, (s->npend + 1) * sizeof(*s->pend), 8 * sizeof(*s->pend));
		s->cappend = (uint32_t)(bytes / sizeof(*s->pend));
	}
	s->pend[s->npend++] = p;
}

static void on_response(struct kafka *s, struct fr_pctx *ctx, struct kdir *k)
{
	struct dec d = {.flex = 0, .cut = k->size - k->keep};
	cur_init(&d.c, k->buf, k->keep);
	int32_t corr = d_i32(&d);
	uint32_t i = 0;
	while (i < s->npend && s->pend[i].x.corr != corr)
		i++;
	if (d.c.bad || i == s->npend) {
		struct info none;
		info_init(&none);
		ctx->anomaly(ctx, k->last_ts, "unpaired_response", "kafka: response without request");
		emit(ctx, NULL, &none, k, corr, "response without request");
		return;
	}
	struct pend *p = &s->pend[i];
	struct info r;
	info_init(&r);
	r.api = p->x.api;
	r.ver = p->x.ver;
	r.corr = corr;
	int api = r.api;
	d.flex = api < N_APIS && r.ver >= apis[api].flex;
	if (api != API_VERSIONS)
		d_tags(&d); /* response header v1 */
	if (api < N_APIS && r.ver <= apis[api].max && decoded_here(api) && !d.c.bad)
		resp_body(&d, &r);
	if (d.c.bad && (d.why || (k->keep == k->size && !k->holed)))
		anomaly_at(ctx, k->last_ts, "parse_error", d.why ? d.why : "response shorter than its fields", &r);
	const char *reason = NULL;
	if (!(api < N_APIS && r.ver <= apis[api].max))
		reason = "version not decoded";
	emit(ctx, p, &r, k, corr, reason);
	x_free(&r);
	pend_drop(s, i);
}

/* ---- framing and resynchronisation --------------------------------------------------- */

static uint32_t be32_at(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Does a request start at w (WIN bytes)?  Size, a known api key with a
 * plausible version, a correlation id after the last one seen, a client id
 * of the length seen before. */
static int request_head(const struct kafka *s, const uint8_t *w)
{
	uint32_t size = be32_at(w);
	int api = w[4] << 8 | w[5], ver = w[6] << 8 | w[7];
	int32_t corr = (int32_t)be32_at(w + 8);
	int clen = (int16_t)(w[12] << 8 | w[13]);
	if (size < 10 || size > FRAME_MAX || api >= N_APIS || ver > VER_PLAUSIBLE || corr < 0)
		return 0;
	if (clen < -1 || clen > (int)size - 10)
		return 0;
	if (s->have_corr && (corr <= s->last_corr || (int64_t)corr - s->last_corr > 100000))
		return 0;
	return s->client_len == -2 || clen == s->client_len;
}

/* Does a response start at w (8 bytes)?  Its correlation id is awaited. */
static int response_head(const struct kafka *s, const uint8_t *w)
{
	uint32_t size = be32_at(w);
	int32_t corr = (int32_t)be32_at(w + 4);
	if (size < 4 || size > FRAME_MAX)
		return 0;
	for (uint32_t i = 0; i < s->npend; i++)
		if (s->pend[i].x.corr == corr)
			return 1;
	return 0;
}

static void frame_start(struct kdir *k, uint32_t size, uint64_t ts)
{
	k->st = ST_BODY;
	k->size = size;
	k->got = k->keep = 0;
	k->holed = k->starved = 0;
	k->first_ts = ts;
}

/* Keeps the frame's bytes up to KEEP_MAX, in a buffer that grows within
 * the analyzer's memory budget. */
static void body_add(struct kdir *k, struct fr_pctx *ctx, const uint8_t *p, size_t n)
{
	k->got += (uint32_t)n;
	if (k->holed || k->starved || k->keep >= KEEP_MAX)
		return;
	if (n > KEEP_MAX - k->keep)
		n = KEEP_MAX - k->keep;
	while (k->keep + n > k->cap) { /* doubling, as far as the budget allows */
		size_t nc = k->cap ? k->cap * 2 : 4096;
		if (ctx->reserve && ctx->reserve(ctx, nc - k->cap) < 0) {
			k->starved = 1;
			n = k->cap - k->keep;
			break;
		}
		k->buf = fr_grow(k->buf, &k->cap, nc, 4096);
	}
	if (!n)
		return;
	memcpy(k->buf + k->keep, p, n);
	k->keep += (uint32_t)n;
}

static void to_resync(struct kafka *s, struct fr_pctx *ctx, int dir, uint64_t ts, const char *why)
{
	struct kdir *k = &s->d[dir];
	if (why)
		ctx->anomaly(ctx, ts, "parse_error", why);
	if (dir == FR_S2C)
		for (uint32_t i = 0; i < s->npend; i++)
			s->pend[i].lost = 1;
	k->st = ST_RESYNC;
	k->wlen = 0;
	k->skipped = k->gapped = 0;
}

static void frame_done(struct kafka *s, struct fr_pctx *ctx, int dir, uint64_t ts)
{
	struct kdir *k = &s->d[dir];
	k->last_ts = ts;
	if (k->starved || (k->size > KEEP_MAX && !k->holed)) {
		char buf[160];
		snprintf(buf, sizeof(buf), "kafka: frame of %u bytes; detail from its first %u (%u bytes not decoded%s)",
			 k->size, k->keep, k->size - k->keep,
			 k->starved ? ": analyzer memory bound reached, raise --max-memory" : "");
		ctx->anomaly(ctx, ts, "bound_exceeded", buf);
	}
	if (dir == FR_C2S)
		on_request(s, ctx, k);
	else
		on_response(s, ctx, k);
	k->st = ST_SIZE;
	k->wlen = 0;
	if (k->cap > 64 * 1024) { /* a big frame's buffer is not kept for the connection's life */
		if (ctx->release)
			ctx->release(ctx, k->cap);
		free(k->buf);
		k->buf = NULL;
		k->cap = 0;
	}
}

/* One byte while resynchronising: slide the window; at a plausible head,
 * take up the frame. */
static void resync_byte(struct kafka *s, struct fr_pctx *ctx, int dir, uint8_t b, uint64_t ts)
{
	struct kdir *k = &s->d[dir];
	size_t need = dir == FR_C2S ? WIN : 8;
	if (k->wlen == need) {
		memmove(k->win, k->win + 1, need - 1);
		k->wlen--;
		k->skipped++;
	}
	k->win[k->wlen++] = b;
	if (k->wlen < need || !(dir == FR_C2S ? request_head(s, k->win) : response_head(s, k->win)))
		return;
	char buf[160];
	snprintf(buf, sizeof(buf), "kafka: %s found again after skipping %llu bytes and a gap of %llu",
		 dir == FR_C2S ? "request boundary" : "response boundary", (unsigned long long)k->skipped,
		 (unsigned long long)k->gapped);
	ctx->anomaly(ctx, ts, "resync", buf);
	frame_start(k, be32_at(k->win), ts);
	body_add(k, ctx, k->win + 4, need - 4);
	k->last_ts = ts;
}

static void feed_dir(struct kafka *s, struct fr_pctx *ctx, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct kdir *k = &s->d[dir];
	struct fr_cur c;
	cur_init(&c, p, n);
	while (cur_left(&c)) {
		if (k->st == ST_RESYNC) {
			resync_byte(s, ctx, dir, cur_u8(&c), ts);
		} else if (k->st == ST_SIZE) {
			k->win[k->wlen++] = cur_u8(&c);
			if (k->wlen < 4)
				continue;
			uint32_t size = be32_at(k->win);
			if (size < (dir == FR_C2S ? 8u : 4u) || size > FRAME_MAX) {
				char buf[100];
				snprintf(buf, sizeof(buf), "kafka: implausible frame size %u; looking for the next %s", size,
					 dir == FR_C2S ? "request" : "response");
				uint8_t w[4];
				memcpy(w, k->win, 4);
				to_resync(s, ctx, dir, ts, buf);
				for (int i = 1; i < 4; i++)
					resync_byte(s, ctx, dir, w[i], ts);
				k->skipped++;
				continue;
			}
			frame_start(k, size, ts);
		} else {
			size_t take = cur_left(&c);
			if (take > k->size - k->got)
				take = k->size - k->got;
			const uint8_t *b = NULL;
			cur_bytes(&c, &b, take);
			body_add(k, ctx, b, take);
			k->last_ts = ts;
		}
		if (k->st == ST_BODY && k->got == k->size)
			frame_done(s, ctx, dir, ts);
	}
}

/* ---- the descriptor ------------------------------------------------------------------- */

static void kafka_init(void *state, int transport)
{
	struct kafka *s = state;
	(void)transport;
	s->client_len = -2;
}

/* A request head: size, known api key, plausible version, correlation id,
 * client id length within the frame. */
static int kafka_probe(const uint8_t *p, size_t n, int transport)
{
	if (transport != FR_TCP || n < 1)
		return FR_PROBE_NO;
	uint8_t h[WIN] = {0};
	memcpy(h, p, n < WIN ? n : WIN);
	/* the size's first byte is 0 below 16 MiB; the api key's first byte is 0 */
	if (h[0] > (FRAME_MAX >> 24) || (n > 4 && h[4] != 0) || (n > 6 && h[6] != 0))
		return FR_PROBE_NO;
	if (n < WIN)
		return FR_PROBE_MAYBE;
	/* an HTTP/2 server's first frame, SETTINGS on stream 0 (length a
	 * multiple of 6, type 4, no flags), also reads as a Produce v0 request */
	if (h[3] == 4 && ((uint32_t)h[0] << 16 | h[1] << 8 | h[2]) % 6 == 0 && h[4] == 0 &&
	    !h[5] && !h[6] && !h[7] && !h[8])
		return FR_PROBE_NO;
	uint32_t size = be32_at(h);
	int api = h[5], ver = h[7];
	int clen = (int16_t)(h[12] << 8 | h[13]);
	if (size < 10 || size > FRAME_MAX || api >= N_APIS || ver > VER_PLAUSIBLE || (h[8] & 0x80))
		return FR_PROBE_NO;
	if (clen < -1 || clen > (int)size - 10 || clen > 4096)
		return FR_PROBE_NO;
	for (int i = 0; i < clen && WIN + (size_t)i < n && i < 64; i++)
		if (p[WIN + i] < 0x20 || p[WIN + i] >= 0x7f)
			return FR_PROBE_NO;
	return FR_PROBE_C2S;
}

static int kafka_feed(void *state, struct fr_pctx *ctx, const struct fr_chunk *ch)
{
	struct kafka *s = state;
	if (ch->dir < 0 || ch->dir > 1)
		return -1;
	feed_dir(s, ctx, ch->dir, ch->p, ch->len, ch->ts);
	return 0;
}

static void kafka_gap(void *state, struct fr_pctx *ctx, int dir, uint64_t len, uint64_t ts)
{
	struct kafka *s = state;
	if (dir < 0 || dir > 1)
		return;
	struct kdir *k = &s->d[dir];
	if (k->st == ST_BODY && len <= k->size - k->got) {
		/* inside a frame: still in step; its detail stops at the hole */
		k->got += (uint32_t)len;
		k->holed = 1;
		if (dir == FR_S2C)
			for (uint32_t i = 0; i < s->npend; i++)
				s->pend[i].lost = 1;
		if (k->got == k->size)
			frame_done(s, ctx, dir, ts);
		return;
	}
	if (k->st == ST_RESYNC) {
		k->gapped += len;
		return;
	}
	char buf[120];
	snprintf(buf, sizeof(buf), "kafka: gap of %llu bytes across a frame boundary; looking for the next %s",
		 (unsigned long long)len, dir == FR_C2S ? "request" : "response");
	to_resync(s, ctx, dir, ts, buf);
	k->gapped = len;
}

static void kafka_finish(void *state, struct fr_pctx *ctx, int why, uint64_t ts)
{
	struct kafka *s = state;
	(void)ts;
	for (uint32_t i = 0; i < s->npend; i++) {
		emit(ctx, &s->pend[i], NULL, NULL, 0, s->pend[i].lost ? "response lost in gap" : fr_end_reason(why));
		x_free(&s->pend[i].x);
	}
	free(s->pend);
	s->pend = NULL;
	s->npend = s->cappend = 0;
	for (int d = 0; d < 2; d++) {
		free(s->d[d].buf);
		s->d[d].buf = NULL;
		s->d[d].cap = 0;
	}
}

const struct fr_proto fr_proto_kafka = {
	.name = "kafka",
	.table = "kafka",
	.schema = "CREATE TABLE kafka (request_id INTEGER PRIMARY KEY, api TEXT, api_version INTEGER, "
		  "correlation_id INTEGER, client_id TEXT, topic TEXT, topics INTEGER, partitions INTEGER, "
		  "records INTEGER, bytes INTEGER, acks INTEGER, compression TEXT, error_code TEXT, "
		  "throttle_ms INTEGER, group_id TEXT, detail TEXT)",
	.child_table = "kafka_partitions",
	.child_schema = "CREATE TABLE kafka_partitions (request_id INTEGER, topic TEXT, partition INTEGER, "
			"error_code TEXT, records INTEGER, bytes INTEGER, high_watermark INTEGER, "
			"offset INTEGER)",
	.state_size = sizeof(struct kafka),
	.ports = {9092, 9093, 9094, 0},
	.udp = 0,
	.probe = kafka_probe,
	.init = kafka_init,
	.feed = kafka_feed,
	.gap = kafka_gap,
	.finish = kafka_finish,
};
