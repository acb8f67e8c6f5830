-- get.lua — wrk script for a fixed GET (the URL given to wrk): adds nothing
-- but the RESULT line of lib.lua, so every run is parsed the same way.
package.path = os.getenv("BENCH_DIR") .. "/?.lua;" .. package.path
local lib = require("lib")

done = lib.report
