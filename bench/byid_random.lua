-- byid_random.lua — wrk script: GET /query/by-id/<id> for an id drawn at
-- random, per request, among the BYID_COUNT assets load.lua created
-- (asset-0000001 .. asset-<BYID_COUNT>), so each request is a real lookup
-- rather than the same hot row.
package.path = os.getenv("BENCH_DIR") .. "/?.lua;" .. package.path
local lib = require("lib")

local n = tonumber(os.getenv("BYID_COUNT"))
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  math.randomseed(os.time() * 31 + wrk.thread:get("tid"))
end

function request()
  return wrk.format("GET", string.format("/query/by-id/asset-%07d", math.random(1, n)))
end

done = lib.report
