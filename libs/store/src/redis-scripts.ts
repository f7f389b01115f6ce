/**
 * The Lua scripts of the Redis store. Each one is a single atomic step: Redis runs a script to the end
 * before any other command (https://redis.io/docs/latest/develop/interact/programmability/eval-intro/).
 * A script that returns early has written nothing: every check comes before the first write, because
 * Redis does not roll back a script's writes when it fails half-way.
 *
 * All keys of a script share the store's hash tag, so each script also runs on Redis Cluster.
 * Replies are arrays whose first element names the outcome; `redis.ts` turns them into results.
 */
import { createHash } from 'node:crypto';

/** A script with its SHA1, run with EVALSHA and loaded with EVAL when the server does not know it (after a restart). */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

/**
 * Publishes `message` to a target `PUBLISH <channel>` or `SPUBLISH <channel>` (`RedisContext.publishTarget`;
 * channels have no spaces, as key prefixes have none).
 */
const PUBLISH_FUNCTION = `
local function publish(target, message)
  local space = string.find(target, ' ', 1, true)
  redis.call(string.sub(target, 1, space - 1), string.sub(target, space + 1), message)
end
`;

/** How many field/value pairs one HSET takes inside a script (Lua's `unpack` has a stack limit). */
const HSET_BATCH = 500;

/**
 * Fenced, atomic write of several ServiceEntry hashes, each with its own revision and change-log entry
 * (a write or a delete per hash). One call carries many ServiceEntries, so the fence is checked once and
 * the client encodes and sends one command for the lot; it is still one atomic step.
 * KEYS: lease, epoch, revision counter, change log, ServiceEntry index, then one hash per change.
 * ARGV: lease value, epoch candidate, log max length, number of changes, then per change a header of
 *       id, op (`upsert` or `delete`), trace ('' for none), number of fields to set, number of fields to
 *       delete, followed by the field/value pairs to set and the fields to delete.
 * Only values that differ are written; a change where nothing differs gets no revision and no log entry.
 * Reply: `{'done', epoch, results}` with per change `{'written', rev, log id, changed fields}`,
 * `{'unchanged', rev}`, `{'deleted', rev, log id}` or `{'absent'}`.
 */
export const WRITE_SERVICE_ENTRIES = new LuaScript(
  'write-service-entries',
  `
local lease = redis.call('GET', KEYS[1])
if lease ~= ARGV[1] then return {'fenced', lease or ''} end
local count = tonumber(ARGV[4])
local starts = {}
local at = 5
for c = 1, count do
  starts[c] = at
  local nset = tonumber(ARGV[at + 3])
  if ARGV[at + 1] == 'upsert' and nset > 0 and redis.call('EXISTS', KEYS[5 + c]) == 0 then
    local has_se = false
    for i = at + 5, at + 4 + 2 * nset, 2 do
      if ARGV[i] == 'se' then has_se = true break end
    end
    if not has_se then return {'invalid', ARGV[at] .. ': a new ServiceEntry hash needs the se field'} end
  end
  at = at + 5 + 2 * nset + tonumber(ARGV[at + 4])
end
local function log(id, op, rev, trace)
  if trace == '' then
    return redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'se', id, 'op', op, 'rev', rev)
  end
  return redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'se', id, 'op', op, 'rev', rev, 'trace', trace)
end
local results = {}
local logged = false
for c = 1, count do
  local hash = KEYS[5 + c]
  local at = starts[c]
  local id = ARGV[at]
  local first_set = at + 5
  local first_delete = first_set + 2 * tonumber(ARGV[at + 3])
  local last = first_delete + tonumber(ARGV[at + 4]) - 1
  if ARGV[at + 1] == 'delete' then
    if redis.call('EXISTS', hash) == 0 then
      results[c] = {'absent'}
    else
      redis.call('DEL', hash)
      redis.call('SREM', KEYS[5], id)
      local rev = redis.call('INCR', KEYS[3])
      results[c] = {'deleted', rev, log(id, 'delete', rev, ARGV[at + 2])}
      logged = true
    end
  else
    local changed = {}
    local batch = {}
    for i = first_set, first_delete - 1, 2 do
      if redis.call('HGET', hash, ARGV[i]) ~= ARGV[i + 1] then
        changed[#changed + 1] = ARGV[i]
        batch[#batch + 1] = ARGV[i]
        batch[#batch + 1] = ARGV[i + 1]
        if #batch >= ${2 * HSET_BATCH} then
          redis.call('HSET', hash, unpack(batch))
          batch = {}
        end
      end
    end
    if #batch > 0 then redis.call('HSET', hash, unpack(batch)) end
    for i = first_delete, last do
      if redis.call('HDEL', hash, ARGV[i]) == 1 then changed[#changed + 1] = ARGV[i] end
    end
    if #changed == 0 then
      results[c] = {'unchanged', redis.call('HGET', hash, 'rev') or '0'}
    else
      local rev = redis.call('INCR', KEYS[3])
      redis.call('HSET', hash, 'rev', rev)
      redis.call('SADD', KEYS[5], id)
      results[c] = {'written', rev, log(id, 'upsert', rev, ARGV[at + 2]), changed}
      logged = true
    end
  end
end
if logged then redis.call('SET', KEYS[2], ARGV[2], 'NX') end
return {'done', redis.call('GET', KEYS[2]) or '', results}
`,
);

/**
 * Fenced write or delete of one Sidecar or Gateway that takes the next invalidation sequence number and
 * publishes the invalidation (`kind: "Sidecar"` or `"Gateway"`, no resources) in the same step.
 * KEYS: the kind's hash, revision counter, lease, sequence, epoch.
 * ARGV: lease value, id, JSON ('' deletes), publish target (`RedisContext.publishTarget`), trace ('' for none),
 * epoch candidate, kind.
 * Values are `<revision> <json>`.
 */
export const WRITE_SCOPE_OBJECT = new LuaScript(
  'write-scope-object',
  `${PUBLISH_FUNCTION}
local lease = redis.call('GET', KEYS[3])
if lease ~= ARGV[1] then return {'fenced', lease or ''} end
local stored = redis.call('HGET', KEYS[1], ARGV[2])
local op = 'upsert'
local rev = 0
if ARGV[3] == '' then
  if not stored then return {'absent'} end
  redis.call('HDEL', KEYS[1], ARGV[2])
  op = 'delete'
else
  if stored then
    local space = string.find(stored, ' ', 1, true)
    if string.sub(stored, space + 1) == ARGV[3] then return {'unchanged', string.sub(stored, 1, space - 1)} end
  end
  rev = redis.call('INCR', KEYS[2])
  redis.call('HSET', KEYS[1], ARGV[2], rev .. ' ' .. ARGV[3])
end
local seq = redis.call('INCR', KEYS[4])
redis.call('SET', KEYS[5], ARGV[6], 'NX')
local message = '{"seq":' .. seq .. ',"owner":' .. cjson.encode(ARGV[2]) .. ',"kind":' .. cjson.encode(ARGV[7]) .. ',"op":"' .. op .. '","ownerChanged":true,"changed":[],"removed":[]'
if ARGV[5] ~= '' then message = message .. ',"trace":' .. cjson.encode(ARGV[5]) end
message = message .. '}'
publish(ARGV[4], message)
return {'written', rev, message}
`,
);

/**
 * Lease acquisition. KEYS: lease, token counter, epoch. ARGV: holder, TTL ms, epoch candidate.
 * A missing token counter starts at the server clock in milliseconds, so tokens keep growing when the
 * server restarted empty (a writer from before the restart holds a smaller token).
 */
export const ACQUIRE_LEASE = new LuaScript(
  'acquire-lease',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return {'held'} end
local token
if redis.call('EXISTS', KEYS[2]) == 0 then
  local now = redis.call('TIME')
  token = string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
  redis.call('SET', KEYS[2], token)
else
  token = tostring(redis.call('INCR', KEYS[2]))
end
redis.call('SET', KEYS[1], token .. '|' .. ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[3], ARGV[3], 'NX')
return {'acquired', token}
`,
);

/** KEYS: lease. ARGV: lease value, TTL ms. */
export const RENEW_LEASE = new LuaScript(
  'renew-lease',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`,
);

/** KEYS: lease. ARGV: lease value. */
export const RELEASE_LEASE = new LuaScript(
  'release-lease',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`,
);

/** KEYS: lease. Returns the value and the remaining milliseconds together. */
export const CURRENT_LEASE = new LuaScript(
  'current-lease',
  `
local value = redis.call('GET', KEYS[1])
if not value then return {} end
return {value, redis.call('PTTL', KEYS[1])}
`,
);

/**
 * Replaces one owner's resources and record, takes the next invalidation sequence number and publishes
 * the invalidation, in one step (so sequence order is write order).
 * KEYS: owner hash, owner index, sequence, epoch.
 * ARGV: owner id, visibility JSON, record JSON, revision, publish target, trace, epoch candidate, number of
 *       resources, then per resource: key (`resourceKey`), version, ref JSON, bytes.
 * Owner hash fields: `rev`, `vis`, `record`, `b:<key>`. A tombstone is a hash with only `rev`
 * and an expiry; a replace turns it back into an owner (PERSIST).
 */
export const REPLACE_RESOURCES = new LuaScript(
  'replace-resources',
  `${PUBLISH_FUNCTION}
local stored = tonumber(redis.call('HGET', KEYS[1], 'rev') or '-1')
if stored > tonumber(ARGV[4]) then return {'stale', stored} end
local old_refs = {}
local old_versions = {}
local old_record = redis.call('HGET', KEYS[1], 'record')
if old_record then
  old_refs = cjson.decode(old_record).resources
  for _, ref in ipairs(old_refs) do
    old_versions[ref.variant .. ' ' .. ref.typeUrl .. ' ' .. ref.name] = ref.version
  end
end
local owner_changed = redis.call('HGET', KEYS[1], 'vis') ~= ARGV[2]
local changed = {}
local kept = {}
for i = 9, 8 + 4 * tonumber(ARGV[8]), 4 do
  kept[ARGV[i]] = true
  if old_versions[ARGV[i]] ~= ARGV[i + 1] then
    redis.call('HSET', KEYS[1], 'b:' .. ARGV[i], ARGV[i + 3])
    changed[#changed + 1] = ARGV[i + 2]
  end
end
local removed = {}
for _, ref in ipairs(old_refs) do
  local key = ref.variant .. ' ' .. ref.typeUrl .. ' ' .. ref.name
  if not kept[key] then
    redis.call('HDEL', KEYS[1], 'b:' .. key)
    removed[#removed + 1] = cjson.encode(ref)
  end
end
redis.call('PERSIST', KEYS[1])
redis.call('HSET', KEYS[1], 'rev', ARGV[4], 'vis', ARGV[2], 'record', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
if not owner_changed and #changed == 0 and #removed == 0 then return {'unchanged'} end
local seq = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[4], ARGV[7], 'NX')
local message = '{"seq":' .. seq .. ',"owner":' .. cjson.encode(ARGV[1]) .. ',"op":"upsert","ownerChanged":' .. tostring(owner_changed)
  .. ',"changed":[' .. table.concat(changed, ',') .. '],"removed":[' .. table.concat(removed, ',') .. ']'
if ARGV[6] ~= '' then message = message .. ',"trace":' .. cjson.encode(ARGV[6]) end
message = message .. '}'
publish(ARGV[5], message)
return {'applied', message}
`,
);

/**
 * Deletes one owner's resources, leaves a tombstone, and publishes the removal.
 * KEYS: owner hash, owner index, sequence, epoch.
 * ARGV: owner id, revision, publish target, trace, epoch candidate, tombstone TTL ms.
 */
export const DELETE_OWNER = new LuaScript(
  'delete-owner',
  `${PUBLISH_FUNCTION}
local stored = tonumber(redis.call('HGET', KEYS[1], 'rev') or '-1')
if stored > tonumber(ARGV[2]) then return {'stale', stored} end
local old_record = redis.call('HGET', KEYS[1], 'record')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'rev', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('SREM', KEYS[2], ARGV[1])
if not old_record then return {'unchanged'} end
local removed = {}
for _, ref in ipairs(cjson.decode(old_record).resources) do removed[#removed + 1] = cjson.encode(ref) end
local seq = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[4], ARGV[5], 'NX')
local message = '{"seq":' .. seq .. ',"owner":' .. cjson.encode(ARGV[1]) .. ',"op":"delete","ownerChanged":true,"changed":[],"removed":['
  .. table.concat(removed, ',') .. ']'
if ARGV[4] ~= '' then message = message .. ',"trace":' .. cjson.encode(ARGV[4]) end
message = message .. '}'
publish(ARGV[3], message)
return {'applied', message}
`,
);

/**
 * Installs (or refreshes) a shard's copy of the writer lease: the fence its ServiceEntry and Sidecar
 * scripts compare writes with. KEYS: fence, epoch. ARGV: lease value, token, TTL ms, epoch candidate.
 * A copy with a larger token is never replaced (returns 0): only the newest holder's copy stands, so a
 * late refresh by a holder that was taken over cannot bring its fence back.
 */
export const INSTALL_FENCE = new LuaScript(
  'install-fence',
  `
local current = redis.call('GET', KEYS[1])
if current then
  local bar = string.find(current, '|', 1, true)
  if bar and tonumber(string.sub(current, 1, bar - 1)) > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[4], 'NX')
return 1
`,
);
