-- graphql.lua — wrk script of the GraphQL benchmark (bench/graphql.sh).
-- With GQL_BODY set: POST /graphql with that JSON body on every request;
-- without: a plain GET of the URL given to wrk (the REST side). Both sides
-- count answers other than 200 the same way and print "BAD n" at the end,
-- so the client does the same work per request on either side.
local body = os.getenv("GQL_BODY")
if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  bad = 0
end

response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end

done = function(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("bad") end
  io.write(string.format("BAD %d\n", n))
end
