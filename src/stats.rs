//! Counters for everything the pipeline sees, drops or cannot parse.
//!
//! Takes increments from every stage; gives a named list for `--stats` so that nothing is lost
//! silently: each drop or error has its own counter, keyed by reason.

use std::fmt;

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        /// One monotonically increasing count per event kind.
        #[derive(Debug, Default, Clone, PartialEq, Eq)]
        pub struct Counters {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Counters {
            /// Every counter as `(name, value)`, in declaration order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
                [$((stringify!($name), self.$name)),*].into_iter()
            }

            /// Every counter as `(name, what it counts, value)`, in declaration order.
            pub fn described(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
                [$((stringify!($name), concat!($($doc),*).trim(), self.$name)),*].into_iter()
            }

            /// Adds every counter of `other` to this one.
            pub fn merge(&mut self, other: &Counters) {
                $(self.$name += other.$name;)*
            }
        }
    };
}

counters! {
    /// Records read from the input.
    packets,
    /// Captured bytes of those records.
    bytes,
    /// Live capture: packets the kernel delivered to wirespan's sockets (PACKET_STATISTICS).
    kernel_packets,
    /// Live capture: packets the kernel dropped because a ring was full.
    kernel_drops,
    /// Live capture: frames a reader handed to another thread's worker.
    packets_handed_off,
    /// Live capture: frames lost between a reader and a worker (the worker had stopped).
    queue_drops,
    /// Live capture: times a reader found a worker's queue full and waited for room (its ring
    /// buffered meanwhile).
    queue_full_waits,
    /// Spans dropped because the writer's queue was full.
    spans_dropped_queue_full,
    /// Records whose captured length is shorter than the wire length (snaplen).
    packets_snapped,
    /// TCP segments that reached the flow table.
    tcp_segments,
    /// TCP payload bytes that reached the flow table.
    tcp_payload_bytes,
    /// Frames that are neither TCP nor UDP after decapsulation (ICMP, ARP, …): not an error.
    skipped_not_tcp,
    /// UDP datagrams on no port wirespan reads (not DNS, not a tunnel): not an error.
    skipped_udp,
    /// Link types wirespan does not decode.
    skipped_link_type,
    /// Ether types or IP protocols wirespan does not decode.
    skipped_unknown_protocol,
    /// Frames cut short before a header ended (snaplen or corruption).
    decode_truncated,
    /// Frames whose headers are malformed (bad version, length fields that lie).
    decode_malformed,
    /// Frames nested in more tunnels than the decoder follows.
    decode_too_deep,
    /// Frames with at least one VLAN tag.
    frames_vlan_tagged,
    /// Frames inside at least one tunnel.
    frames_tunnelled,
    /// Tunnel layers peeled, by kind.
    tunnel_vxlan,
    tunnel_vxlan_gpe,
    tunnel_geneve,
    tunnel_gre,
    tunnel_erspan,
    tunnel_nsh,
    tunnel_ipip,
    /// Frames that came through a GTP-U tunnel (UDP 2152).
    tunnel_gtpu,
    /// Frames that came through Teredo (UDP 3544).
    tunnel_teredo,
    /// Frames that came through AYIYA (UDP 5072).
    tunnel_ayiya,
    /// Frames that came through GRE in UDP (UDP 4754).
    tunnel_gre_udp,
    /// Frames read from NFLOG records (link type 239, `tcpdump -i nflog`).
    frames_nflog,
    /// IEEE 802.3 frames whose LLC/SNAP header carried an EtherType.
    frames_llc_snap,
    tunnel_mpls,
    /// IPv4/IPv6 fragments received.
    ip_fragments,
    /// Datagrams rebuilt from fragments.
    ip_reassembled,
    /// Fragments dropped: reassembly memory full, timed out or inconsistent.
    ip_fragments_dropped,
    /// Flows created.
    flows_created,
    /// Flows that ended with FIN or RST.
    flows_closed,
    /// Flows evicted because they were idle too long.
    flows_evicted_idle,
    /// Segments of a connection after it closed (trailing ACKs, repeated FINs): absorbed.
    tcp_segments_after_close,
    /// Segments without payload (ACK, FIN, RST) of no followed connection: nothing to follow.
    tcp_segments_without_flow,
    /// Closed connections not remembered while they linger (that table was full), so a
    /// trailing segment may open a new, empty flow.
    flows_closed_forgotten,
    /// Segments dropped because the flow table was full.
    flows_dropped_table_full,
    /// Segments wholly retransmitted (bytes seen before).
    tcp_retransmitted_segments,
    /// Bytes of partly retransmitted segments that were trimmed.
    tcp_overlap_bytes_trimmed,
    /// Segments that arrived out of order and were buffered.
    tcp_out_of_order_segments,
    /// Holes in a stream (bytes never seen) that the reassembler skipped.
    tcp_gaps,
    /// Bytes in those holes.
    tcp_gap_bytes,
    /// Out-of-order segments dropped because the per-direction buffer was full.
    tcp_reassembly_overflow,
    /// Segments so far ahead of the stream that they cannot belong to it.
    tcp_segments_out_of_window,
    /// Flows whose application protocol was not recognised.
    flows_unrecognised,
    /// Protocol guesses refused because the bytes came from the other side than the protocol
    /// says (a MySQL greeting sent by the client).
    detect_rejected_wrong_side,
    /// First bytes held because they came in pieces too short to recognise (a request
    /// written a byte at a time), given up on when they reached the bound unrecognised.
    detect_held_bytes_given_up,
    /// Connections that became a tunnel (CONNECT answered 2xx) whose bytes were then
    /// recognised afresh.
    flows_tunnels_opened,
    /// Flows given up after a parser found the stream was not its protocol (before any span).
    flows_given_back,
    /// HTTP/1 exchanges completed (request and response).
    http1_exchanges,
    /// HTTP/1 requests that never got a response (flow ended first).
    http1_requests_without_response,
    /// HTTP/1 responses with no request to pair with.
    http1_responses_without_request,
    /// HTTP/1 messages whose head could not be parsed.
    http1_parse_errors,
    /// HTTP/1 request heads the strict parser refused and that were read leniently (a
    /// malformed request line, obs-folded or invalid header lines): spans marked
    /// `wirespan.incomplete=malformed_request`.
    http1_malformed_requests,
    /// HTTP/1 request lines without a version (HTTP/0.9's `GET /path`): the line is the
    /// request; an answer without a status line is read until close.
    http1_versionless_requests,
    /// gRPC-Web calls over HTTP/1.1 (status from headers or the body's trailer frame).
    http1_grpc_web_calls,
    /// HTTP/1 heads larger than the head buffer limit.
    http1_head_too_large,
    /// HTTP/1 connections that switched to HTTP/2 (`Upgrade: h2c`).
    http1_h2c_upgrades,
    /// HTTP/1 pipelined requests dropped because too many were in flight.
    http1_pipeline_overflow,
    /// HTTP/2 streams a server promised (PUSH_PROMISE): each its own exchange, marked pushed.
    http2_pushed_streams,
    /// HTTP/2 header values read as `traceparent` by their exact shape, their name being in a
    /// table entry from before the capture.
    http2_traceparent_by_shape,
    /// gRPC-Web trailer frames longer than the 512 bytes kept (status and message read from
    /// what was kept).
    grpc_web_trailers_cut,
    /// gRPC calls recognised by their 5-byte-prefixed messages alone (`content-type` was in
    /// a table entry from before the capture).
    grpc_recognised_by_framing,
    /// gRPC calls whose `:path` could not be read (a connection older than the capture):
    /// `wirespan.grpc.method=unknown` unless a joined app span names it.
    grpc_calls_method_unknown,
    /// PostgreSQL messages read, both directions.
    pgsql_messages,
    /// PostgreSQL exchanges completed (login, simple query, extended-protocol batch).
    pgsql_exchanges,
    /// PostgreSQL requests that never got their ReadyForQuery (connection ended first, or too
    /// many waiting).
    pgsql_requests_unanswered,
    /// PostgreSQL answers with no request to pair with (a capture that began mid-answer).
    pgsql_responses_without_request,
    /// PostgreSQL queries whose SQL was longer than the 4 KiB kept (the text is cut there).
    pgsql_sql_truncated,
    /// Named PostgreSQL statements not remembered (the per-connection bound was reached).
    pgsql_statements_dropped,
    /// PostgreSQL COPY operations (their data counted in the query's exchange, not parsed).
    pgsql_copies,
    /// PostgreSQL connections that switched to TLS (SSLRequest answered `S`): not read.
    pgsql_tls_connections,
    /// PostgreSQL messages with an impossible length or type: the reader resynchronises.
    pgsql_parse_errors,
    /// PostgreSQL readers that lost message boundaries in a hole.
    pgsql_resyncs,
    /// Redis commands read.
    redis_commands,
    /// Redis commands paired with their replies.
    redis_exchanges,
    /// Redis commands that never got a reply (connection ended first, or too many waiting).
    redis_commands_unanswered,
    /// Redis replies with no command to pair with (a capture that began mid-reply).
    redis_replies_without_command,
    /// Redis pub/sub messages and RESP3 pushes: not replies, never paired.
    redis_pushes,
    /// Redis values that were not RESP (the reader resynchronises).
    redis_parse_errors,
    /// Redis readers that lost value boundaries in a hole.
    redis_resyncs,
    /// DNS datagrams on the DNS ports (UDP).
    dns_datagrams,
    /// DNS queries read (UDP and TCP).
    dns_queries,
    /// DNS queries paired with their answers.
    dns_exchanges,
    /// DNS queries sent again (same id and question) before their answer came (UDP).
    dns_retransmits,
    /// DNS queries unanswered within the timeout (UDP, capture time): spans without response.
    dns_timeouts,
    /// DNS queries unanswered when their connection or the input ended, or replaced by a new query with their id.
    dns_queries_unanswered,
    /// DNS queries not followed because the table of waiting queries was full.
    dns_queries_dropped,
    /// DNS answers to no query seen (sent before the capture began, or not repeating the question).
    dns_answers_unmatched,
    /// DNS answers to the retransmitted copies of a query already answered.
    dns_answers_duplicate,
    /// DNS messages that could not be read (malformed, cut), or bytes of one that were lost.
    dns_parse_errors,
    /// DNS over TCP: holes after which the stream waited for the next query.
    dns_resyncs,
    /// DNS over TCP: messages longer than the 4 KiB kept, read as far as kept.
    dns_messages_cut,
    /// Endpoints named from the apps' spans: a server address and port, or a caller's address.
    names_endpoints_learned,
    /// Endpoints two services claimed at once (host networking, NAT): named by neither.
    names_endpoint_conflicts,
    /// Endpoints forgotten after an hour without a span of theirs.
    names_endpoints_aged_out,
    /// Endpoints not remembered because the map was full.
    names_endpoints_dropped,
    /// Network spans given the name of their server, their caller or both.
    names_spans_named,
    /// HTTP/2 frames read.
    http2_frames,
    /// HTTP/2 frames that cannot be (too long, CONTINUATION without HEADERS).
    http2_frame_errors,
    /// HTTP/2 readers that lost frame boundaries in a hole and looked for the next frame.
    http2_resyncs,
    /// HTTP/2 exchanges completed (END_STREAM, RST_STREAM or GOAWAY).
    http2_exchanges,
    /// HTTP/2 streams still open when the connection ended.
    http2_streams_unfinished,
    /// HTTP/2 streams given up because too many were open.
    http2_streams_dropped,
    /// HTTP/2 responses on streams whose request was not seen.
    http2_responses_without_request,
    /// HPACK blocks that could not be decoded.
    http2_hpack_errors,
    /// HPACK table size updates above the limit (a 4 GiB table, say).
    http2_hpack_table_size_rejected,
    /// Header fields referring to dynamic-table entries from before the capture.
    http2_hpack_unknown_fields,
    /// MySQL packets read.
    mysql_packets,
    /// MySQL commands answered (or sent without an answer expected).
    mysql_exchanges,
    /// MySQL packets that are not what the protocol state expects.
    /// MySQL query attributes read (CLIENT_QUERY_ATTRIBUTES), kept out of the SQL text.
    mysql_query_attributes,
    mysql_parse_errors,
    /// MySQL readers that lost packet boundaries in a hole.
    mysql_resyncs,
    /// Server packets whose length claimed more bytes than came before the next command.
    mysql_length_mismatch,
    /// MySQL commands whose response never came.
    mysql_commands_unanswered,
    /// MySQL responses with no command to answer.
    mysql_responses_without_command,
    /// MySQL connections that switched to TLS (not readable).
    mysql_tls_connections,
    /// MySQL connections using the compressed protocol (not parsed).
    mysql_compressed_connections,
    /// Prepared statements not remembered because a connection had too many.
    mysql_statements_dropped,
    /// SQL texts longer than the kept prefix.
    mysql_sql_truncated,
    /// Exchanges marked incomplete because a stream hole hit them, of every protocol.
    exchanges_with_gap,
    /// Spans emitted.
    spans,
    /// App spans read for correlation.
    correlation_app_spans,
    /// Calls (one or more network spans of one exchange) offered to the correlator.
    correlation_calls,
    /// Calls joined by the trace context they carried.
    correlation_joined_by_context,
    /// Calls joined through the callee's SERVER span naming the call's client as its peer.
    correlation_joined_by_peer,
    /// Calls joined under the span open on the client's host (uninstrumented DB clients).
    correlation_joined_by_enclosing_span,
    /// Calls joined through an X-Request-ID shared with a call into the same host.
    correlation_joined_by_request_id,
    /// TLS handshakes joined where the first call on their connection was joined (or, with no
    /// call read on it, beside the callee's SERVER span of its first request).
    correlation_joined_by_setup,
    /// Joins by time where one trace alone had spans open around the call.
    correlation_evidence_time,
    /// Joins by time to a DB CLIENT span of the same statement.
    correlation_evidence_statement,
    /// Joins by time singled out by a value the request carried and the call repeats.
    correlation_evidence_values,
    /// Joins by time through another call on the same connection, which lived inside the span.
    correlation_evidence_connection,
    /// Calls left unjoined, linked to every candidate: spans of several traces were open
    /// on the client's host while they ran.
    correlation_ambiguous_concurrent_spans,
    /// Calls left unjoined, linked to every candidate: several of the callee's SERVER spans
    /// named the call's client.
    correlation_ambiguous_concurrent_server_spans,
    /// Calls left unjoined, linked to every candidate: several calls into the host carried
    /// their X-Request-ID.
    correlation_ambiguous_request_id,
    /// Calls joined by their trace context whose callee SERVER span could not be singled out
    /// (the same context started several): the callee is left where it was.
    correlation_ambiguous_callee,
    /// Ambiguous calls with more candidates than links kept.
    correlation_links_truncated,
    /// Calls no app span could be found for: exported as they are.
    correlation_calls_unjoined,
    /// Network spans that could not read their call's name (a connection older than the
    /// capture) and learned it from another capture point of the call or from the app span
    /// the call joined by trace context (`wirespan.learned_from`).
    correlation_names_learned,
    /// App spans given a network span as their new parent.
    correlation_app_spans_reparented,
    /// Times the correlation window was full and released spans before their time.
    correlation_released_early,
    /// Live: lookups of a call's socket owners in the host's socket tables (per call, cached).
    process_lookups,
    /// Live: client ends whose owning process was found on this host.
    process_client_found,
    /// Live: server ends whose owning process was found on this host.
    process_server_found,
    /// Live: call ends no local process was found for (a remote end, a socket already closed).
    process_not_found,
    /// Live: call ends several processes or network namespaces could own: named neither.
    process_ambiguous,
    /// Live: times /proc was read again on a miss (the namespaces, and the sockets and their
    /// owners of the namespaces the missed addresses are local to).
    process_rebuilds,
    /// Live: reads of /proc refused (another user's process without the capability).
    process_permission_denied,
    /// Live: processes that exited while /proc was read.
    process_gone,
    /// Live: other failed reads of /proc and lines that could not be parsed.
    process_unreadable,
    /// Live: reads of /proc that stopped at a cap on processes, descriptors or sockets.
    process_scan_truncated,
    /// Live: spans whose socket owners came from the per-call cache.
    process_cache_hits,
    /// Live: per-call cache entries dropped to stay within its bound.
    process_cache_evictions,
    /// Live: lookups of socket owners dropped because the namer thread was behind.
    process_requests_dropped,
    /// Live: the namer's answers dropped, oldest first, to keep within its bound (65 536 calls).
    process_answers_evicted,
    /// Live: spans written before the namer had its time, to keep the spans waiting for names
    /// within their bound (65 536).
    process_spans_released_early,
    /// Live: calls with neither end on this host (between other hosts, passing through),
    /// not looked up.
    process_remote_calls,
    /// TLS handshakes read (one per connection that sent a ClientHello).
    tls_handshakes,
    /// TLS handshakes that did not go on encrypted (an alert, or the connection ended).
    tls_handshakes_failed,
    /// TLS alerts in the clear that ended a handshake.
    tls_alerts,
    /// TLS records or handshake messages that could not be read: the connection's records are
    /// no longer followed.
    tls_parse_errors,
    /// TLS handshake messages longer than the 64 KiB kept: not read.
    tls_handshake_too_large,
    /// Server certificates (TLS 1.2 and below) that could not be read.
    tls_certificates_unreadable,
    /// Holes in a TLS connection outside an encrypted record: its records are lost from there.
    tls_gaps,
    /// TLS connections whose records were decrypted with the key log.
    tls_connections_decrypted,
    /// TLS connections that went encrypted while a key log was given but never found their
    /// secrets in it (missing, late past the wait, or for another connection).
    tls_connections_without_keys,
    /// TLS records decrypted and authenticated.
    tls_records_decrypted,
    /// TLS records that failed authentication (wrong or corrupted secrets, a lost record):
    /// never parsed; the connection is read no further.
    tls_records_unauthenticated,
    /// Encrypted TLS records dropped while waiting for their keys (256 KiB or 10 s of capture
    /// time per connection at most).
    tls_records_dropped_waiting_for_keys,
    /// TLS 1.3 connections whose application secrets the key log lacked after a Finished.
    tls_decrypt_missing_secrets,
    /// TLS connections with secrets whose cipher suite cannot be decrypted here (not AEAD).
    tls_decrypt_unsupported,
    /// Decrypted plaintext no parser recognised.
    tls_plaintext_unrecognised,
    /// Key log lines that are not key log lines (never quoted: they may hold secrets).
    tls_keylog_malformed,
    /// Secrets read from key logs (files and pcapng Decryption Secrets Blocks).
    tls_keylog_secrets,
    /// Connections whose secrets the key log dropped, oldest first, to keep within its bound
    /// (16 384 connections).
    tls_keylog_evicted,
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in self.iter() {
            writeln!(f, "{name:<46} {value}")?;
        }
        Ok(())
    }
}
