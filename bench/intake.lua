-- wrk script of bench/intake: keep-alive POSTs of one valid order.
-- With KEYED=1 in the environment every request carries a fresh
-- Idempotency-Key (unique per thread and request).
local body_file = os.getenv("BENCH_BODY")
local key = os.getenv("BENCH_KEY")
local keyed = os.getenv("KEYED") == "1"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
  counter = 0
  prefix = "wrk-" .. tostring(os.time()) .. "-" .. tostring(thread_id) .. "-"
end

-- Without a key every request is the same: wrk then sends the request it
-- formatted once, and spends no Lua call per request (the load generator
-- shares the API's and the broker's cores).
if keyed then
  function request()
    counter = counter + 1
    wrk.headers["Idempotency-Key"] = prefix .. counter
    return wrk.format()
  end
end
