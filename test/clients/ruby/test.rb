#!/usr/bin/ruby
# mantis from ruby-pg (Debian's ruby-pg), as an application uses it:
# exec_params with bind parameters, no casts, and PG::BasicTypeMapForResults
# so that booleans and integers come back as Ruby's own.  The same checks
# run on a connection to the server, then through PgBouncer in transaction
# mode, where ruby-pg needs nothing changed as long as the application does
# not prepare named statements (conn.prepare / exec_prepared): see the last
# check.
#
# The connection comes from APP_HOST, APP_PORT, BOUNCER_PORT, APP_DB,
# APP_USER and APP_PASSWORD (set by test/clients/run.sh).  The role has only
# `GRANT mantis_writer, mantis_monitor TO app`.
#
# Output: one "ok N - ..." or "not ok N - ..." line per check, then a
# count; the exit status is 1 when any check failed.

require 'pg'

ENV_ = ENV
$count = 0
$failed = []

class Failure < StandardError; end

def check(name)
  $count += 1
  begin
    yield
    puts "ok #{$count} - #{name}"
  rescue StandardError => e
    $failed << name
    puts "not ok #{$count} - #{name}"
    puts "#   #{e.class}: #{e.message}".gsub("\n", "\n#   ")
    e.backtrace.first(4).each { |l| puts "#   #{l}" } unless e.is_a?(Failure)
  end
  $stdout.flush
end

# got == want and of the same class: false is not "f", 100000 not "100000"
def eq(got, want, what = 'value')
  return if got.class == want.class && got == want
  raise Failure, "#{what}: got #{got.inspect} (#{got.class}), want #{want.inspect} (#{want.class})"
end

def truthy(cond, what)
  raise Failure, what unless cond
end

# the block fails with a server error whose SQLSTATE is `code`, as ruby-pg
# exposes it: the error's result, field PG_DIAG_SQLSTATE
def raises(code, what)
  result = yield
rescue PG::Error => e
  got = e.result&.error_field(PG::Result::PG_DIAG_SQLSTATE)
  raise Failure, "#{what}: SQLSTATE #{got.inspect}, want #{code} (#{e.message.strip})" unless got == code
  e
else
  raise Failure, "#{what}: no error (returned #{result.inspect}), want SQLSTATE #{code}"
end

def connect(port, dbname: ENV_['APP_DB'], password: ENV_['APP_PASSWORD'], type_map: true)
  conn = PG.connect(host: ENV_['APP_HOST'], port: port, dbname: dbname,
                    user: ENV_['APP_USER'], password: password)
  # booleans as true/false, integers as Integer, times as Time
  conn.type_map_for_results = PG::BasicTypeMapForResults.new(conn) if type_map
  conn
end

def one(conn, sql, params = [])
  conn.exec_params(sql, params).getvalue(0, 0)
end

# The scenario of a feature flag, through one connection
def scenario(label, port)
  pfx = "ruby/#{label}/"
  conn = connect(port)

  check "#{label}: connected as app over TCP with a password; not a superuser" do
    r = conn.exec('SELECT current_user::text AS u, inet_server_addr() IS NOT NULL AS tcp,
                   (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su')
    eq(r[0], { 'u' => 'app', 'tcp' => true, 'su' => false }, 'user, TCP, superuser')
    begin
      connect(port, password: 'not the password').close
      raise Failure, 'a wrong password was accepted'
    rescue PG::ConnectionBad => e
      # "password authentication failed" from the server, "SASL
      # authentication failed" from PgBouncer
      truthy(e.message.include?('authentication failed'), "wrong password: #{e.message}")
    end
  end

  check "#{label}: a flag set from true reads true with mantis_get_bool, with and without a default" do
    one(conn, 'SELECT mantis_set($1, $2)', [pfx + 'dark', true])
    eq(one(conn, 'SELECT mantis_get($1)', [pfx + 'dark']), 'true', 'the stored text')
    eq(one(conn, 'SELECT mantis_get_bool($1)', [pfx + 'dark']), true)
    eq(one(conn, 'SELECT mantis_get_bool($1, $2)', [pfx + 'dark', false]), true, 'with default false')
    one(conn, 'SELECT mantis_set($1, $2)', [pfx + 'dark', 'off'])
    eq(one(conn, 'SELECT mantis_get_bool($1, $2)', [pfx + 'dark', true]), false, "stored 'off'")
  end

  check "#{label}: an absent flag is nil, and its default false a native false" do
    eq(one(conn, 'SELECT mantis_get_bool($1)', [pfx + 'absent']), nil)
    eq(one(conn, 'SELECT mantis_get_bool($1, $2)', [pfx + 'absent', false]), false)
  end

  check "#{label}: an integer over 32767 reads as an Integer with mantis_get_int" do
    one(conn, 'SELECT mantis_set($1, $2)', [pfx + 'limit', 100_000])
    eq(one(conn, 'SELECT mantis_get_int($1)', [pfx + 'limit']), 100_000)
    eq(one(conn, 'SELECT mantis_get_int($1, $2)', [pfx + 'limit', 100]), 100_000, 'with a default')
    eq(one(conn, 'SELECT mantis_get_int($1, $2)', [pfx + 'absent', 100]), 100, 'absent, its default')
    eq(one(conn, 'SELECT mantis_get_int($1, $2)', [pfx + 'absent', 5_000_000_000]), 5_000_000_000,
       'a default past 2^31')
    one(conn, 'SELECT mantis_set($1, $2)', [pfx + 'word', 'abc'])
    raises('22P02', "'abc' read with mantis_get_int") do
      one(conn, 'SELECT mantis_get_int($1, $2)', [pfx + 'word', 0])
    end
  end

  check "#{label}: mantis_set(key, nil) fails with 22004 (PG::NullValueNotAllowed) and changes nothing" do
    one(conn, 'SELECT mantis_set($1, $2)', [pfx + 'kept', 'here'])
    e = raises('22004', 'mantis_set(key, nil)') { one(conn, 'SELECT mantis_set($1, $2)', [pfx + 'kept', nil]) }
    truthy(e.is_a?(PG::NullValueNotAllowed), "class #{e.class}")
    eq(one(conn, 'SELECT mantis_get($1)', [pfx + 'kept']), 'here', 'the value after the failed set')
    eq(one(conn, 'SELECT mantis_delete($1)', [pfx + 'kept']), true, 'mantis_delete deletes')
    eq(one(conn, 'SELECT mantis_get($1)', [pfx + 'kept']), nil, 'after mantis_delete')
  end

  check "#{label}: mantis_ttl_ms is an Integer: the milliseconds left, nil without an expiry" do
    one(conn, 'SELECT mantis_set($1, $2, $3)', [pfx + 'session', 'token', '30 seconds'])
    ms = one(conn, 'SELECT mantis_ttl_ms($1)', [pfx + 'session'])
    truthy(ms.is_a?(Integer) && ms > 25_000 && ms <= 30_000, "mantis_ttl_ms #{ms.inspect} (#{ms.class})")
    eq(one(conn, 'SELECT mantis_ttl_ms($1)', [pfx + 'limit']), nil, 'a key without an expiry')
  end

  check "#{label}: pitfall: without a type map ruby-pg returns strings ('t', '100000')" do
    raw = connect(port, type_map: false)
    eq(one(raw, 'SELECT mantis_get_bool($1, $2)', [pfx + 'absent', false]), 'f')
    eq(one(raw, 'SELECT mantis_get_int($1)', [pfx + 'limit']), '100000')
    raw.close
  end

  conn.close
end

begin
  scenario('direct', ENV_['APP_PORT'])
  scenario('pgbouncer', ENV_['BOUNCER_PORT'])

  # The pool "single" has one server connection: its clients take turns
  # on one backend, where a named statement of one is there for the next.
  check 'pgbouncer: pitfall: a named prepared statement (conn.prepare) fails for the next client (42P05)' do
    a = connect(ENV_['BOUNCER_PORT'], dbname: 'single')
    b = connect(ENV_['BOUNCER_PORT'], dbname: 'single')
    a.prepare('flag', 'SELECT mantis_get_bool($1, $2)')
    raises('42P05', 'the same prepare from a second client') do
      b.prepare('flag', 'SELECT mantis_get_bool($1, $2)')
    end
    eq(one(b, 'SELECT mantis_get_bool($1, $2)', ['ruby/pgbouncer/absent', false]), false,
       'exec_params on the second client')
    a.exec('DEALLOCATE flag')
    a.close
    b.close
  end
rescue StandardError => e
  $failed << 'the program'
  puts "not ok - the program stopped: #{e.class}: #{e.message}"
  e.backtrace.first(6).each { |l| puts "#   #{l}" }
end

puts "# #{$count} checks, #{$failed.size} failed"
$failed.each { |f| puts "#   failed: #{f}" }
exit($failed.empty? && $count.positive? ? 0 : 1)
