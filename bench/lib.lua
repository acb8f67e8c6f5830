-- lib.lua — shared by the bench's wrk scripts: the asset generator (one
-- realistic ~1 KB asset per sequence number) and a done() that prints one
-- machine-readable RESULT line that bench.sh parses.
--
-- Loaded with require() after the script puts $BENCH_DIR on package.path.

local M = {}

-- 20 common asset types, each with a few sub-types.
M.types = {
  {"model", {"transformer", "cnn", "gbdt", "llm"}},
  {"dataset", {"tabular", "image", "text", "audio"}},
  {"tool", {"cli", "library", "converter"}},
  {"config", {"yaml", "json", "env"}},
  {"notebook", {"jupyter", "colab"}},
  {"pipeline", {"training", "etl", "inference"}},
  {"service", {"rest", "grpc", "batch"}},
  {"container", {"docker", "oci"}},
  {"library", {"python", "c", "rust"}},
  {"plugin", {"storage", "auth", "export"}},
  {"prompt", {"system", "few-shot", "template"}},
  {"embedding", {"text", "image", "multimodal"}},
  {"workflow", {"airflow", "argo", "temporal"}},
  {"dashboard", {"grafana", "superset"}},
  {"report", {"pdf", "html"}},
  {"schema", {"avro", "protobuf", "jsonschema"}},
  {"connector", {"s3", "kafka", "postgres"}},
  {"agent", {"planner", "retriever", "tool-user"}},
  {"benchmark", {"accuracy", "latency", "robustness"}},
  {"document", {"spec", "manual", "paper"}},
}

M.tags = {
  "vision", "nlp", "speech", "tabular", "generative", "prod", "staging", "experimental",
  "gpu", "cpu", "edge", "cloud", "team-a", "team-b", "team-c", "team-d", "gdpr", "pii-free",
  "open-source", "internal", "deprecated", "beta", "v1", "v2", "fast", "accurate", "small",
  "large", "batch", "realtime",
}

M.verbs = {"infer", "predict", "query", "transform", "status"}

local fmt = string.format

-- JSON for one asset. kind "probe" makes the rare assets the fixed-size
-- queries look for: type "probe", tag "probe-tag", route "/api/v1/probe/infer",
-- params 1000000+seq (outside the range the params search selects).
function M.asset(seq, kind)
  local id, t, sub, tags, route, params
  if kind == "probe" then
    id = fmt("probe-%02d", seq)
    t, sub = "probe", "canary"
    tags = '"probe-tag","prod","team-a"'
    route = "/api/v1/probe/infer"
    params = 1000000 + seq
  else
    id = fmt("asset-%07d", seq)
    local ty = M.types[seq % #M.types + 1]
    t, sub = ty[1], ty[2][math.floor(seq / #M.types) % #ty[2] + 1]
    local nt = #M.tags
    tags = fmt('"%s","%s","%s"', M.tags[seq % nt + 1], M.tags[(seq * 7 + 3) % nt + 1],
               M.tags[(seq * 13 + 11) % nt + 1])
    route = fmt("/api/v1/%s/%s-%d", t, M.verbs[seq % #M.verbs + 1], seq % 50)
    params = seq
  end
  local p2 = ""
  if seq % 3 == 0 then -- every third asset has a second profile
    local ty2 = M.types[(seq + 7) % #M.types + 1]
    p2 = fmt(',{"asset_profile_id":"%s-p2","asset_type":"%s","asset_sub_type":"%s",' ..
             '"asset_id":"%s","asset_metadata":{"stage":"eval","owner":"team-%d"},' ..
             '"asset_tags":["derived","%s","batch"]}',
             id, ty2[1], ty2[2][1], id, seq % 17, ty2[1])
  end
  return fmt('{"asset_id":"%s","asset_uri":"registry://assets.example.com/%s/%s",' ..
    '"asset_version":"v%d","asset_profile_id":"%s-p1","asset_file_ids":["%s-f1"],' ..
    '"asset_policy_ids":["%s-pol1"],"asset_api_ids":["%s-api1"],' ..
    '"asset_brief_description":"Benchmark asset %d: a %s (%s) for the benchmark",' ..
    '"profiles":[{"asset_profile_id":"%s-p1","asset_type":"%s","asset_sub_type":"%s",' ..
    '"asset_id":"%s","asset_metadata":{"params":%d,"framework":"pytorch","license":"apache-2.0",' ..
    '"size_mb":%d},"asset_creator_info":{"team":"team-%d","email":"owner%d@example.com"},' ..
    '"asset_tags":[%s],"asset_description":"Generated asset %d.",' ..
    '"asset_complete_docs_url":"https://docs.example.com/assets/%s"}%s],' ..
    '"policies":[{"asset_policy_id":"%s-pol1","asset_id":"%s","asset_policy_type":"access",' ..
    '"asset_policy_rule_uri":"https://policies.example.com/access/default"}],' ..
    '"files":[{"asset_file_id":"%s-f1","asset_file_type":"weights",' ..
    '"asset_file_mime_type":"application/octet-stream",' ..
    '"asset_file_url":"https://blobs.example.com/%s/weights.bin"}],' ..
    '"apis":[{"asset_api_id":"%s-api1","asset_id":"%s","asset_api_svc":"%s-svc",' ..
    '"asset_api_route":"%s","asset_api_protocol":"HTTP"}],"index_mappings":[]}',
    id, t, id, seq % 5 + 1, id, id, id, id, seq, t, sub, id, t, sub, id, params,
    seq % 900 + 10, seq % 17, seq % 1000, tags, seq, id, p2, id, id, id, id, id, id, t, route)
end

-- Prints one line bench.sh parses: rate, latency percentiles (µs), errors.
function M.report(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(fmt("RESULT requests=%d duration_s=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d " ..
               "max_us=%d non2xx=%d sock_errors=%d\n",
               summary.requests, secs, summary.requests / secs, latency:percentile(50),
               latency:percentile(90), latency:percentile(99), latency.max, e.status,
               e.connect + e.read + e.write + e.timeout))
end

return M
