# frozen_string_literal: true

# repro adapter: ActiveRecord 6.1's ConnectionPool over the mysql2 gem, driven as a Rails application
# drives it (protocol: docs/adapters.md), JSON lines on stdin/stdout, logs on stderr only.
#
# Every request runs in its own Ruby Thread (arm on the reading one, see main), so a query hanging on a
# dead socket never blocks the next request: mysql2 releases the GVL while it waits on the socket.
# `ruby adapter.rb --check` prints check's library lines.

$stdout.sync = true
$stderr.sync = true

require "json"
require "set"

module Repro
  # [gem name (as check prints it), the file `require` loads, the prefix of the gem's other files]
  LIBRARIES = [
    ["activerecord", "active_record.rb", "active_record/"],
    ["mysql2", "mysql2.rb", "mysql2/"],
  ].freeze
  INSTALL = "apt-get install ruby-activerecord ruby-mysql2 (or make setup)"

  class LibraryError < StandardError; end

  module_function

  # Loads ActiveRecord and its mysql2 adapter exactly as establish_connection(adapter: "mysql2") does:
  # active_record/connection_adapters/mysql2_adapter.rb runs `gem "mysql2", "~> 0.5"` and `require "mysql2"`.
  def load_libraries
    unless ENV.fetch("REPRO_LIBRARY_PATH", "").empty?
      raise LibraryError, "activerecord: REPRO_LIBRARY_PATH (#{ENV["REPRO_LIBRARY_PATH"]}) is set, but this adapter " \
                          "loads only the gems installed on the system (no --library/--driver NAME@VERSION support); " \
                          "leave --library out"
    end
    begin
      require "active_record"
    rescue LoadError, StandardError => e
      raise LibraryError, "activerecord: cannot require active_record (#{e.class}: #{e.message}): #{INSTALL}"
    end
    begin
      require "active_record/connection_adapters/mysql2_adapter"
    rescue LoadError, StandardError => e
      raise LibraryError, "mysql2: cannot load ActiveRecord's mysql2 adapter (#{e.class}: #{e.message}): #{INSTALL}"
    end
  end

  # The dpkg file lists (/var/lib/dpkg/info/*.list), read once each: Debian's rubygems-integration installs a
  # gem's specification as a stub (its full_gem_path does not exist) and its files under vendor_ruby, both
  # from one package. The lists named ruby-<gem>* are read first; the name only orders the search.
  @dpkg_lists = {}

  def dpkg_list(path)
    @dpkg_lists[path] ||= begin
      File.readlines(path, chomp: true).to_set
    rescue SystemCallError
      Set.new
    end
  end

  def dpkg_package_listing(file, hint)
    lists = Dir.glob("/var/lib/dpkg/info/*.list")
    named, others = lists.partition { |l| File.basename(l).start_with?("ruby-#{hint}") }
    (named.sort + others.sort).each do |l|
      set = dpkg_list(l)
      return set if set.include?(file)
    end
    nil
  end

  def realpath(path)
    File.realpath(path)
  rescue SystemCallError
    path
  end

  # Whether `spec` is the specification whose files `files` are: they lie under its require paths (a gem
  # installed by `gem install`), or the spec file and every one of them are listed by the same Debian package.
  def owns?(spec, files, hint)
    dirs = spec.full_require_paths.select { |d| File.directory?(d) }.map { |d| realpath(d) + "/" }
    return true if !dirs.empty? && files.all? { |f| dirs.any? { |d| realpath(f).start_with?(d) } }
    return false unless spec.loaded_from && File.file?(spec.loaded_from)

    listing = dpkg_package_listing(spec.loaded_from, hint) || dpkg_package_listing(realpath(spec.loaded_from), hint)
    !listing.nil? && files.all? { |f| listing.include?(f) || listing.include?(realpath(f)) }
  end

  # The version in the metadata of the gem whose files were loaded: Gem.loaded_specs[name] (what `gem`/Bundler
  # activated), checked to own the loaded files; if it does not, another installed spec of that name that
  # does; nil (with a line on stderr) when none does.
  def loaded_version(name, main, prefix)
    files = $LOADED_FEATURES.select { |f| f.end_with?("/#{main}") || f.include?("/#{prefix}") }
    files = files.select { |f| f.end_with?("/#{main}") || f.match?(%r{/#{Regexp.escape(prefix)}[^/]+(/[^/]+)*\.(rb|so)\z}) }
    # A file of another gem can share the prefix only as a deeper path (active_record/… of activerecord
    # only); keep those under the directory the main file was loaded from.
    main_file = files.find { |f| f.end_with?("/#{main}") }
    if main_file.nil?
      warn "activerecord adapter: #{name}: no loaded file ends in /#{main}"
      return nil
    end
    base = File.dirname(main_file)
    own = files.select { |f| f == main_file || f.start_with?("#{base}/#{prefix}") }
    # mysql2's native extension lies in an arch directory (…/x86_64-linux-gnu/ruby/vendor_ruby/3.1.0/mysql2/mysql2.so).
    own |= files.select { |f| f.end_with?(".so") && f.include?("/#{prefix}") }
    candidates = [Gem.loaded_specs[name], *Gem::Specification.find_all_by_name(name)].compact.uniq(&:loaded_from)
    spec = candidates.find { |s| owns?(s, own, name) }
    if spec.nil?
      warn "activerecord adapter: #{name}: no gem specification owns the loaded files (#{own.join(", ")}); " \
           "Gem.loaded_specs has #{Gem.loaded_specs[name]&.loaded_from || "none"}"
      return nil
    end
    if spec != Gem.loaded_specs[name]
      warn "activerecord adapter: #{name}: Gem.loaded_specs names #{Gem.loaded_specs[name]&.loaded_from || "none"}, " \
           "but the loaded files belong to #{spec.loaded_from}"
    end
    spec.version.to_s
  end

  def versions
    LIBRARIES.to_h { |name, main, prefix| [name, loaded_version(name, main, prefix)] }
  end

  # `check`: one line per library, `ok <name> <version>` or `missing <name>: <why and fix>`.
  def check_main
    status = 0
    begin
      load_libraries
    rescue LibraryError => e
      name, why = e.message.split(": ", 2)
      puts "missing #{name}: #{why}"
      if name == "activerecord" && ENV.fetch("REPRO_LIBRARY_PATH", "").empty?
        # mysql2 on its own, as the adapter would load it, so its line still says what is there.
        begin
          gem "mysql2", "~> 0.5"
          require "mysql2"
          puts "ok mysql2 #{loaded_version("mysql2", "mysql2.rb", "mysql2/") || "unknown"}"
        rescue LoadError, StandardError => e2
          puts "missing mysql2: cannot require mysql2 (#{e2.class}: #{e2.message}): #{INSTALL}"
        end
      elsif name == "activerecord"
        puts "missing mysql2: REPRO_LIBRARY_PATH is not supported by this adapter (see the activerecord line)"
      end
      return 1
    end
    found = versions
    # The libraries' own constants, as a cross-check of the metadata (never printed instead of it).
    consts = { "activerecord" => ActiveRecord.version.to_s, "mysql2" => Mysql2::VERSION }
    LIBRARIES.each do |name, _, _|
      v = found[name]
      if v && v != consts[name]
        warn "activerecord adapter: #{name}: the gem's metadata says #{v}, its VERSION constant #{consts[name]}"
      end
      puts "ok #{name} #{v || "unknown"}"
    end
    status
  end
end

exit(Repro.check_main) if ARGV == ["--check"]

begin
  Repro.load_libraries
rescue Repro::LibraryError => e
  warn "activerecord adapter: missing #{e.message}"
  exit 1
end

VERSIONS = Repro.versions
POOL_VERSION = VERSIONS["activerecord"] || "unknown"
DRIVER_VERSION = VERSIONS["mysql2"] || "unknown"

# No SQL log anywhere: the config (with the password) never reaches a logger.
ActiveRecord::Base.logger = nil

module Repro
  module_function

  class Usage < StandardError; end

  # An exception the application caught, with where it was raised (acquire or query), what app.followUp
  # then did (nil when it did not run) and what app.reconnectRetry absorbed.
  class PhaseError < StandardError
    attr_reader :error, :phase, :follow_up

    def initialize(error, phase, follow_up = nil)
      super(error.message)
      @error = error
      @phase = phase
      @follow_up = follow_up
    end
  end

  OUT = Mutex.new

  def emit(obj)
    line = begin
      JSON.generate(obj)
    rescue JSON::GeneratorError, EncodingError
      JSON.generate(deep_scrub(obj))
    end
    OUT.synchronize { $stdout.write(line + "\n") }
  end

  def deep_scrub(obj)
    case obj
    when Hash then obj.to_h { |k, v| [deep_scrub(k), deep_scrub(v)] }
    when Array then obj.map { |v| deep_scrub(v) }
    when String then scrub(obj)
    else obj
    end
  end

  def scrub(s)
    s.nil? ? nil : s.to_s.dup.force_encoding(Encoding::UTF_8).scrub("?")
  end

  # The first Mysql2::Error in e's cause chain (e itself included), for errno and SQLSTATE.
  def mysql_error(e)
    seen = 0
    while e && seen < 8
      return e if e.is_a?(Mysql2::Error)

      e = e.cause
      seen += 1
    end
    nil
  end

  # What the application caught, verbatim.
  def error_object(e, phase)
    src = mysql_error(e)
    err = {
      "class" => e.class.name,
      "code" => nil,
      "errno" => src&.error_number,
      "sqlState" => scrub(src&.sql_state),
      "message" => scrub(e.message),
      "fatal" => nil,
      "phase" => phase,
    }
    err["cause"] = scrub(e.cause.message) if e.cause
    err
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def ms_since(t0)
    ((now - t0) * 1000).round(3)
  end

  # --- options ------------------------------------------------------------------------------------

  def parse_bool(v)
    case v.strip.downcase
    when "true", "1", "yes", "on" then true
    when "false", "0", "no", "off" then false
    else raise ArgumentError, "expected true or false"
    end
  end

  def parse_seconds(v)
    f = begin
      Float(v.strip)
    rescue ArgumentError
      raise ArgumentError, "expected seconds, e.g. 2 or 0.5"
    end
    raise ArgumentError, "expected seconds >= 0" if f.negative? || !f.finite?

    f
  end

  def parse_whole_seconds(v)
    raise ArgumentError, "expected whole seconds >= 0 (mysql2 takes an Integer)" unless v.strip.match?(/\A\d+\z/)

    Integer(v.strip, 10)
  end

  def parse_sql(v)
    raise ArgumentError, "give the SQL to send, e.g. ROLLBACK" if v.strip.empty?

    v
  end

  # key => [parser, where it goes (:config: establish_connection's hash, :app: the adapter's own), description]
  OPTIONS = {
    "reconnect" => [:parse_bool, :config,
                    "mysql2's auto-reconnect (MYSQL_OPT_RECONNECT): a ping or query on a dropped connection reconnects inside " \
                    "the client library, without ActiveRecord's session setup or initSql (default: false)"],
    "idle_timeout" => [:parse_seconds, :config,
                       "seconds a connection may sit unused in the pool before the reaper disconnects it; 0 keeps " \
                       "connections forever (default: 300)"],
    "reaping_frequency" => [:parse_seconds, :config,
                            "seconds between runs of the pool's reaper (reclaims connections of dead threads, flushes " \
                            "those idle longer than idle_timeout); 0 no reaper (default: 60)"],
    "checkout_timeout" => [:parse_seconds, :config,
                           "seconds to wait for a free connection before ActiveRecord::ConnectionTimeoutError (default: 5)"],
    "connect_timeout" => [:parse_whole_seconds, :config,
                          "mysql2 connect timeout, whole seconds (default: 120, mysql2's own)"],
    "read_timeout" => [:parse_whole_seconds, :config,
                       "mysql2 read timeout, whole seconds; applies to every query and to the checkout ping (default: " \
                       "none, wait forever)"],
    "write_timeout" => [:parse_whole_seconds, :config,
                        "mysql2 write timeout, whole seconds (default: none, wait forever)"],
    "wait_timeout" => [:parse_whole_seconds, :config,
                       "the session wait_timeout ActiveRecord sets on every new connection (SET @@SESSION.wait_timeout); " \
                       "initSql runs after it (default: 2147483, which overrides the server's global wait_timeout)"],
    "app.followUp" => [:parse_sql, :app,
                       "SQL sent with execute on the same connection right after a failed query, inside the " \
                       "with_connection block (before the connection is checked in), e.g. ROLLBACK (default: none)"],
    "app.reconnectRetry" => [:parse_bool, :app,
                             "the classic initializer: when a query raises ActiveRecord::StatementInvalid or " \
                             "ConnectionNotEstablished caused by a Mysql2 connection error (or 'MySQL client is not " \
                             "connected'), call reconnect! on that connection and run the query once more (default: false)"],
    "app.verifyHeld" => [:parse_bool, :app,
                         "the long-lived thread calls ActiveRecord::Base.connection.verify! (ping, reconnect! if dead) " \
                         "before each query on its held connection (default: false)"],
  }.freeze

  STATE = {
    open: false, init_sql: [], app: {}, held: nil, batch: nil, closing: false,
  }
  ARM = Mutex.new
  INFLIGHT = [] # request threads, only touched by the reading thread

  def hello(_req)
    info = Mysql2::Client.info
    {
      "protocol" => 1, "driver" => "mysql2", "driverVersion" => DRIVER_VERSION,
      "pool" => "ActiveRecord ConnectionPool", "poolVersion" => POOL_VERSION,
      "runtime" => "ruby", "runtimeVersion" => RUBY_VERSION,
      "clientLibrary" => "#{info[:version]} (headers #{info[:header_version]})",
      "options" => OPTIONS.transform_values { |v| v[2] },
    }
  end

  def parse_options(options)
    config = {}
    app = {}
    (options || {}).each do |key, raw|
      key = key.to_s
      unless OPTIONS.key?(key)
        raise Usage, "unknown option '#{key}': known options are #{OPTIONS.keys.sort.join(", ")}"
      end

      parser, where, = OPTIONS[key]
      begin
        value = send(parser, raw.to_s)
      rescue ArgumentError, TypeError => e
        raise Usage, "option #{key}: cannot parse '#{raw}': #{e.message}"
      end
      if where == :app
        app[key] = value
      else
        config[key.to_sym] = value
      end
    end
    [config, app]
  end

  def open(req)
    raise Usage, "open: the pool is already open" if STATE[:open]

    size = req["poolSize"]
    raise Usage, "open: poolSize must be a whole number >= 1, got #{size.inspect}" unless size.is_a?(Integer) && size >= 1

    config, app = parse_options(req["options"])
    init_sql = req["initSql"] || []
    raise Usage, "open: initSql must be a list of strings" unless init_sql.is_a?(Array) && init_sql.all?(String)

    spec = { adapter: "mysql2", host: req["host"], port: req["port"], username: req["user"],
             password: req["password"], pool: size }
    spec[:database] = req["database"] unless req["database"].nil?
    spec.merge!(config)
    STATE[:init_sql] = init_sql.dup.freeze
    STATE[:app] = app.freeze
    # Lazy, as in Rails: this builds the pool (and starts its reaper thread); the first checkout connects.
    ActiveRecord::Base.establish_connection(spec)
    STATE[:open] = true
    {}
  end

  def pool
    raise Usage, "no pool: send open first" unless STATE[:open]

    ActiveRecord::Base.connection_pool
  end

  # --- the application's code -----------------------------------------------------------------------

  # The errors the classic "MySQL server has gone away" initializer rescues and retries after reconnect!.
  def connection_error?(e)
    return true if e.is_a?(ActiveRecord::ConnectionNotEstablished)
    return false unless e.is_a?(ActiveRecord::StatementInvalid)

    e.cause.is_a?(Mysql2::Error::ConnectionError) || e.message.match?(/MySQL client is not connected/i)
  end

  # app.followUp: the error path sends one more statement on the same connection.
  def follow_up(conn, sql)
    conn.execute(sql)
    { "ok" => true }
  rescue StandardError => e
    { "ok" => false, "error" => error_object(e, "follow-up") }
  end

  # The query on a connection the caller has, as application code writes it: select_all, every row read.
  # With app.reconnectRetry, one connection error is absorbed (recorded in handled) by reconnect! and a
  # second try; with app.followUp, the last error is followed by one more statement on that connection.
  def query_on(conn, sql, handled)
    begin
      conn.select_all(sql).to_a
    rescue StandardError => e
      raise unless STATE[:app]["app.reconnectRetry"] && connection_error?(e) && handled.empty?

      handled << { "by" => "retry", "error" => error_object(e, "query") }
      begin
        conn.reconnect!
      rescue StandardError => e2
        raise PhaseError.new(e2, "acquire", follow_up_after(conn))
      end
      retry
    end
  rescue PhaseError
    raise
  rescue StandardError => e
    raise PhaseError.new(e, "query", follow_up_after(conn))
  end

  def follow_up_after(conn)
    sql = STATE[:app]["app.followUp"]
    sql.nil? ? nil : follow_up(conn, sql)
  end

  # One run: ActiveRecord::Base.connection_pool.with_connection { |c| c.select_all(sql).to_a } on the
  # calling (request) thread: checkout (with verify!) on entry, checkin when the block ends however it ends.
  def app_query(sql, handled)
    acquired = false
    pool.with_connection do |conn|
      acquired = true
      # The server thread of the connection that served it (read from the handle, no query): a timeline lane.
      Thread.current[:repro_served] = thread_id_of(conn)
      query_on(conn, sql, handled)
    end
  rescue PhaseError
    raise
  rescue Usage
    raise
  rescue StandardError => e
    raise PhaseError.new(e, acquired ? "query" : "acquire")
  end

  # A result in the shape of a run answer.
  def timed
    t0 = now
    handled = []
    Thread.current[:repro_served] = nil
    res = begin
      yield handled
      { "ok" => true, "ms" => ms_since(t0) }
    rescue PhaseError => pe
      r = { "ok" => false, "ms" => ms_since(t0), "error" => error_object(pe.error, pe.phase) }
      r["followUp"] = pe.follow_up if pe.follow_up
      r
    end
    res["handled"] = handled unless handled.empty?
    served = Thread.current[:repro_served]
    res["threadId"] = served unless served.nil?
    res
  end

  # The classic Rails background thread: ActiveRecord::Base.connection on a thread of its own, never given
  # back; work reaches it through a Queue and runs there, on that thread-cached connection.
  class HeldThread
    attr_reader :thread_id

    def initialize
      @jobs = Queue.new
      ready = Queue.new
      @thread = Thread.new do
        conn = nil
        begin
          conn = ActiveRecord::Base.connection # checkout (verify!), cached for this thread
        rescue StandardError => e
          ready << PhaseError.new(e, "acquire")
          next
        end
        begin
          ready << conn.select_value("SELECT CONNECTION_ID()")
        rescue StandardError => e
          ready << PhaseError.new(e, "query")
          ActiveRecord::Base.connection_pool.release_connection
          next
        end
        while (job = @jobs.pop)
          job.call
        end
        ActiveRecord::Base.connection_pool.release_connection # stopped: as a thread ending cleanly would
      end
      got = ready.pop
      raise got if got.is_a?(PhaseError)

      @thread_id = got
    end

    # Runs sql on the held connection (on the held thread), answers a run result.
    def run(sql)
      answer = Queue.new
      @jobs << lambda {
        answer << Repro.timed do |handled|
          conn = ActiveRecord::Base.connection # the thread's cached connection: no checkout, no verify
          Thread.current[:repro_served] = Repro.thread_id_of(conn)
          if STATE[:app]["app.verifyHeld"]
            begin
              conn.verify!
            rescue StandardError => e
              raise PhaseError.new(e, "acquire")
            end
          end
          Repro.query_on(conn, sql, handled)
        end
      }
      answer.pop
    end

    def stop
      @jobs << nil
    end

    def join(seconds)
      @thread.join(seconds)
    end
  end

  def hold(_req)
    pool
    held = HeldThread.new
    old = STATE[:held]
    STATE[:held] = held
    old&.stop
    { "threadId" => held.thread_id }
  end

  def run(req)
    sql = req["sql"]
    raise Usage, "run: 'sql' must be a string" unless sql.is_a?(String)

    if req["held"]
      pool
      held = STATE[:held]
      raise Usage, "run held: no held connection, send hold first" if held.nil?

      held.run(sql)
    else
      pool
      timed { |handled| app_query(sql, handled) }
    end
  end

  # count threads check out a connection at the same time (so the pool opens that many), each reads its
  # CONNECTION_ID(), and all check in once every one has arrived.
  def warm(req)
    count = req["count"]
    raise Usage, "warm: count must be a whole number >= 1, got #{count.inspect}" unless count.is_a?(Integer) && count >= 1

    p = pool
    ids = Array.new(count)
    errors = Array.new(count)
    lock = Mutex.new
    all_here = ConditionVariable.new
    arrived = 0
    arrive = lambda do
      lock.synchronize do
        arrived += 1
        all_here.broadcast if arrived >= count
      end
    end
    threads = Array.new(count) do |i|
      Thread.new do
        phase = "acquire"
        p.with_connection do |conn|
          phase = "query"
          ids[i] = conn.select_value("SELECT CONNECTION_ID()")
          arrive.call
          phase = nil
          deadline = Repro.now + 30
          lock.synchronize do
            all_here.wait(lock, deadline - Repro.now) while arrived < count && Repro.now < deadline
          end
        end
      rescue StandardError => e
        errors[i] = Repro.error_object(e, phase)
        arrive.call unless phase.nil?
      end
    end
    threads.each(&:join)
    first = errors.compact.first
    return { "ok" => false, "error" => first } if first

    { "threadIds" => ids }
  end

  def busy(req)
    count = req["count"]
    sql = req["sql"]
    raise Usage, "busy: count must be a whole number >= 1, got #{count.inspect}" unless count.is_a?(Integer) && count >= 1
    raise Usage, "busy: 'sql' must be a string" unless sql.is_a?(String)

    pool
    results = Array.new(count)
    Array.new(count) { |i| Thread.new { results[i] = timed { |handled| app_query(sql, handled) } } }.each(&:join)
    { "results" => results }
  end

  # Schedules count runs, one after another, on a timer thread delayMs from now (delay 0: started right
  # here), and answers at once. main calls it on the thread that reads stdin, so the batch is registered
  # (and its thread sleeping) before the answer is written and before a collect behind it is read.
  def arm(req)
    count = req["count"]
    sql = req["sql"]
    delay = req["delayMs"] || 0
    raise Usage, "arm: count must be a whole number >= 0, got #{count.inspect}" unless count.is_a?(Integer) && count >= 0
    raise Usage, "arm: delayMs must be a number >= 0, got #{delay.inspect}" unless delay.is_a?(Numeric) && delay >= 0
    raise Usage, "arm: 'sql' must be a string" unless sql.is_a?(String)

    pool
    due = now + delay / 1000.0 # the timer is set now: a process stopped from here on finds it overdue
    batch = { results: [], done: Queue.new }
    ARM.synchronize do
      raise Usage, "arm: a batch is already armed; send collect first" unless STATE[:batch].nil?

      STATE[:batch] = batch
    end
    Thread.new do
      left = due - Repro.now
      sleep(left) if left.positive?
      count.times do # each exactly a run; the next starts when this one has finished
        batch[:results] << timed { |handled| app_query(sql, handled) }
      rescue Usage => e
        batch[:results] << { "ok" => false, "error" => { "usage" => true, "message" => e.message } }
      end
    ensure
      batch[:done].close
    end
    {}
  end

  def collect(_req)
    batch = ARM.synchronize { STATE[:batch] }
    raise Usage, "collect: nothing armed; send arm first" if batch.nil?

    batch[:done].pop # returns nil once the batch thread closes the queue
    ARM.synchronize { STATE[:batch] = nil if STATE[:batch].equal?(batch) }
    { "results" => batch[:results] }
  end

  # Gives the held connection back, then ActiveRecord::Base.connection_pool.disconnect! (closes every
  # connection; it waits up to 2 x checkout_timeout for connections still in use), bounded by `seconds`.
  def shutdown(seconds)
    deadline = now + seconds
    held = STATE[:held]
    STATE[:held] = nil
    if held
      held.stop
      held.join([deadline - now, 0].max)
    end
    return true unless STATE[:open]

    t = Thread.new do
      # disconnect! checks every connection out first, so each is verified (and a dead one reconnected)
      # before it is closed: the events say so.
      Thread.current[:repro_context] = "connection_pool.disconnect!"
      ActiveRecord::Base.connection_pool.disconnect!
    end
    !t.join([deadline - now, 0.05].max).nil?
  end

  def close(_req)
    pool
    return {} if shutdown(2.0)

    { "disconnectPending" => true }
  end

  OPS = {
    "hello" => :hello, "open" => :open, "warm" => :warm, "run" => :run, "hold" => :hold,
    "busy" => :busy, "arm" => :arm, "collect" => :collect, "close" => :close,
  }.freeze

  def handle(req)
    id = req["id"]
    op = OPS[req["op"]]
    raise Usage, "unknown op '#{req["op"]}': known ops are #{OPS.keys.join(", ")}" if op.nil?

    body = send(op, req)
    emit({ "id" => id }.merge(body.key?("ok") ? body : { "ok" => true }.merge(body)))
  rescue Usage => e
    emit({ "id" => id, "ok" => false, "error" => { "usage" => true, "message" => e.message } })
  rescue PhaseError => e
    emit({ "id" => id, "ok" => false, "error" => error_object(e.error, e.phase) })
  rescue Exception => e # rubocop:disable Lint/RescueException -- still exactly one answer
    emit({ "id" => id, "ok" => false, "error" => error_object(e, nil) })
  end

  # --- what the pool and driver do on their own: events ----------------------------------------------

  def thread_id_of(adapter)
    adapter.instance_variable_get(:@repro_thread_id)
  end

  # On every Mysql2Adapter: initSql after ActiveRecord's own session setup (configure_connection runs on
  # the first connect and after each reconnect!), and reports of what the application does not see.
  # Each method calls super unchanged: behaviour is the library's.
  module AdapterHooks
    private

    def configure_connection
      @repro_thread_id = nil # a new Mysql2::Client: its thread id is read below
      super
      @repro_thread_id = begin
        @connection.thread_id
      rescue StandardError
        nil
      end
      Repro::STATE[:init_sql].each { |sql| execute(sql, "SCHEMA") }
    end

    # mysql2's own reconnect (reconnect: true) happens inside libmariadb: the server thread changes under
    # the same Mysql2::Client. Seen after a successful ping or query (mysql_thread_id reads the handle only).
    def repro_notice_auto_reconnect(after)
      return if @connection.nil? || @repro_thread_id.nil?

      now_id = begin
        @connection.thread_id
      rescue StandardError
        nil
      end
      return if now_id.nil? || now_id == @repro_thread_id

      was = @repro_thread_id
      @repro_thread_id = now_id
      Repro.emit({ "event" => "auto-reconnect",
                   "message" => "mysql2 reconnected on its own (reconnect: true) during #{after}: server thread #{was} " \
                                "is now #{now_id}; ActiveRecord's session settings and initSql were not run again",
                   "threadId" => now_id, "previousThreadId" => was })
    end

    public

    def execute(*args, **kwargs, &block)
      result = super
      repro_notice_auto_reconnect("a query")
      result
    end

    def verify!(*args, **kwargs, &block)
      previous = Thread.current[:repro_context]
      Thread.current[:repro_context] = previous ? "#{previous}: verify!" : "verify!"
      super
    ensure
      Thread.current[:repro_context] = previous
    end

    # Mysql2Adapter#active? is @connection.ping: false (never an exception) for a dead connection.
    def active?(*args, **kwargs, &block)
      alive = super
      context = Thread.current[:repro_context] || "active?"
      if alive
        repro_notice_auto_reconnect("#{context}'s ping")
      else
        Repro.emit({ "event" => "ping-failed",
                     "message" => "#{context}: Mysql2::Client#ping returned false, the connection is dead",
                     "context" => context, "threadId" => @repro_thread_id })
      end
      alive
    end

    def reconnect!(*args, **kwargs, &block)
      was = @repro_thread_id
      context = Thread.current[:repro_context] || "application code"
      begin
        super
      rescue StandardError => e
        Repro.emit({ "event" => "reconnect-failed", "message" => Repro.scrub(e.message), "class" => e.class.name,
                     "context" => context, "threadId" => was })
        raise
      end
      Repro.emit({ "event" => "reconnect",
                   "message" => "#{context}: reconnect! replaced the dead connection (server thread #{was.inspect} " \
                                "is now #{@repro_thread_id.inspect})",
                   "context" => context, "threadId" => @repro_thread_id, "previousThreadId" => was })
    end
  end

  # The pool's reaper (a thread per reaping_frequency): reap (connections leased by threads that died) and
  # flush (connections idle longer than idle_timeout, disconnected).
  module PoolHooks
    def reap(*args, **kwargs, &block)
      stale = synchronize { @connections&.select { |c| c.in_use? && !c.owner.alive? } } || []
      super
    ensure
      (stale || []).each do |c|
        Repro.emit({ "event" => "pool-reap",
                     "message" => "the reaper reclaimed a connection leased by a thread that is no longer alive",
                     "threadId" => Repro.thread_id_of(c) })
      end
    end

    def flush(minimum_idle = @idle_timeout)
      return super if minimum_idle.nil?

      before = synchronize { @connections&.map { |c| [c, c.in_use? ? nil : c.seconds_idle] } } || []
      begin
        super
      ensure
        left = synchronize { @connections ? @connections.dup : [] }
        before.each do |c, idle|
          next if idle.nil? || left.include?(c)

          Repro.emit({ "event" => "pool-flush",
                       "message" => format("the reaper disconnected a connection idle for %.1f s (idle_timeout %s s)",
                                           idle, minimum_idle == -1 ? "-1" : minimum_idle.to_s),
                       "threadId" => Repro.thread_id_of(c) })
        end
      end
    end
  end

  ActiveRecord::ConnectionAdapters::Mysql2Adapter.prepend(AdapterHooks)
  ActiveRecord::ConnectionAdapters::ConnectionPool.prepend(PoolHooks)

  def main
    $stdin.binmode
    $stdin.each_line do |line|
      next if line.strip.empty?

      begin
        req = JSON.parse(line)
      rescue JSON::ParserError => e
        warn "activerecord adapter: ignoring a line that is not JSON: #{e.message[0, 200]}"
        next
      end
      unless req.is_a?(Hash)
        warn "activerecord adapter: ignoring a line that is not a JSON object"
        next
      end
      if req["op"] == "arm"
        # Answered here, before the next line is read: it only registers the batch and starts its timer
        # thread, and a collect right behind it must find it.
        handle(req)
      else
        INFLIGHT << Thread.new(req) { |r| handle(r) }
        INFLIGHT.select!(&:alive?) if INFLIGHT.size > 64
      end
    end
    # stdin EOF: answer what is quick among the requests in flight, give the pool back if that is quick,
    # and exit 0 within ~1 s regardless (a hung query too).
    deadline = now + 0.2
    INFLIGHT.each { |t| t.join([deadline - now, 0].max) }
    t = Thread.new { shutdown(0.4) }
    t.join(0.5)
    Process.exit!(0)
  end
end

Thread.report_on_exception = false
Repro.main
