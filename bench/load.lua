-- load.lua — wrk script that POSTs exactly LOAD_COUNT new assets to /assets,
-- then stops wrk early so its Requests/sec is the create rate.
--
-- Environment (set by bench.sh):
--   BENCH_DIR      this directory (for lib.lua)
--   LOAD_COUNT     how many assets to create in this run
--   LOAD_BASE      sequence numbers used are LOAD_BASE+1 .. LOAD_BASE+LOAD_COUNT
--   LOAD_THREADS   the -t given to wrk
--   LOAD_KIND      "asset" (default) or "probe"
--   LOAD_SYNC_DIR  an empty directory for the threads' "done" markers
--
-- Uniqueness across wrk threads: thread tid (1..T) takes the sequence
-- numbers LOAD_BASE + tid, LOAD_BASE + tid + T, LOAD_BASE + tid + 2T, … so
-- the threads' ids never collide and together cover the range exactly.
-- A connection only sends once delay() has reserved it a sequence number;
-- when a thread's share is used up its idle connections wait (delay of an
-- hour) instead of sending anything else. When a thread has the answers to
-- its whole share it stops its event loop and leaves a marker; the last one
-- to finish sends SIGINT to wrk, which makes wrk stop its timer and report.

package.path = os.getenv("BENCH_DIR") .. "/?.lua;" .. package.path
local lib = require("lib")
local ffi = require("ffi")
ffi.cdef [[
int kill(int pid, int sig);
int getpid(void);
]]

local count = tonumber(os.getenv("LOAD_COUNT"))
local base = tonumber(os.getenv("LOAD_BASE") or "0")
local nthreads = tonumber(os.getenv("LOAD_THREADS"))
local kind = os.getenv("LOAD_KIND") or "asset"
local sync_dir = os.getenv("LOAD_SYNC_DIR")

local created_threads = 0
function setup(thread)
  created_threads = created_threads + 1
  thread:set("tid", created_threads)
end

local tid, quota
local reserved, sent, answered, failed, body_bytes = 0, 0, 0, 0, 0
local probe_req -- what request() returns outside a reservation (see request())
local headers = {["Content-Type"] = "application/json"}

function init(args)
  tid = wrk.thread:get("tid")
  quota = 0
  if tid <= count then quota = math.floor((count - tid) / nthreads) + 1 end
  assert(quota > 0, "load.lua: LOAD_COUNT must be at least the number of threads")
end

function delay()
  if reserved < quota then
    reserved = reserved + 1
    return 0
  end
  return 3600000
end

-- wrk calls request() once before the run to check the script (it is never
-- sent); that call, made with nothing reserved, must not use up an id.
function request()
  if sent >= reserved then
    probe_req = probe_req or wrk.format("GET", "/healthz")
    return probe_req
  end
  sent = sent + 1
  local seq = base + tid + (sent - 1) * nthreads
  local body = lib.asset(seq, kind)
  body_bytes = body_bytes + #body
  return wrk.format("POST", "/assets", headers, body)
end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

function finish()
  wrk.thread:stop()
  local f = assert(io.open(sync_dir .. "/done." .. tid, "w"))
  f:write(string.format("sent=%d answered=%d failed=%d body_bytes=%d\n", sent, answered,
                        failed, body_bytes))
  f:close()
  for i = 1, nthreads do
    if not exists(sync_dir .. "/done." .. i) then return end
  end
  ffi.C.kill(ffi.C.getpid(), 2) -- SIGINT: wrk's main thread stops waiting
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 201 then
    failed = failed + 1
    if failed <= 3 then io.stderr:write("load.lua: HTTP " .. status .. ": " .. body .. "\n") end
  end
  if answered == quota then finish() end
end

done = lib.report
