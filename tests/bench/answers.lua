-- wrk script for B3: POST "I'm safe" as a notification's action does, each request a different
-- check-in. TOKENS_FILE holds one token per line; thread i of n takes every n-th line
-- starting at OFFSET + i, so no two requests of one run answer the same check-in.
local tokens = {}
local counter = 0
local threads = {}

function setup(thread)
   thread:set("index", #threads)
   table.insert(threads, thread)
end

function init(args)
   local offset = tonumber(os.getenv("OFFSET") or "0")
   local nthreads = tonumber(os.getenv("THREADS") or "1")
   local i = 0
   for line in io.lines(os.getenv("TOKENS_FILE")) do
      if i >= offset and (i - offset) % nthreads == index then
         table.insert(tokens, line)
      end
      i = i + 1
   end
end

function request()
   counter = counter + 1
   local token = tokens[((counter - 1) % #tokens) + 1]
   return wrk.format("POST", "/api/answer/", {["Content-Type"] = "application/json"},
      '{"token": "' .. token .. '", "status": "safe"}')
end

function done(summary, latency, requests)
   io.write(string.format(
      "RESULT {\"requests\": %d, \"duration_us\": %d, \"status_errors\": %d, " ..
      "\"connect\": %d, \"read\": %d, \"write\": %d, \"timeout\": %d, " ..
      "\"p50_us\": %d, \"p99_us\": %d}\n",
      summary.requests, summary.duration, summary.errors.status,
      summary.errors.connect, summary.errors.read, summary.errors.write,
      summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
