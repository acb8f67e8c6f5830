-- search.lua — wrk script: POST /query/search with the filter in
-- SEARCH_BODY (the same body on every request).
package.path = os.getenv("BENCH_DIR") .. "/?.lua;" .. package.path
local lib = require("lib")

wrk.method = "POST"
wrk.body = os.getenv("SEARCH_BODY")
wrk.headers["Content-Type"] = "application/json"

done = lib.report
