-- The form cycle: POST / with a real session cookie and its CSRF token.
-- args: cookie, token, mode ("known": existing userN names; "new": never-seen names),
--       users (how many userN exist), run (a prefix unique to this run)
dofile("counting.lua")

local counter = 0

function configure(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  if args[1] ~= "" then wrk.headers["Cookie"] = args[1] end
  token, mode, users, run = args[2], args[3], tonumber(args[4]), args[5]
  math.randomseed(os.time() + id)
end

function request()
  local name
  if mode == "known" then
    name = "user" .. math.random(0, users - 1)
  else
    counter = counter + 1
    name = "new-" .. run .. "-" .. id .. "-" .. counter
  end
  return wrk.format(nil, nil, nil, "name=" .. name .. "&csrf_token=" .. token)
end
