# frozen_string_literal: true

# No stdlib requires here: loading the gem should cost a process little (a Rails app has uri and
# erb loaded anyway; a plain Ruby worker need not pay for them).
module Dumper
  # Detects what the agent needs to know about the host: the dispatcher (app server or job runner)
  # and every database of the environment. Detection never opens a connection (no probe socket is
  # left in a forking master): it reads configuration objects only.
  module Stack
    DISPATCHERS = %w[puma unicorn passenger thin webrick resque sidekiq].freeze

    module_function

    # The dispatcher this process runs under, or nil (console, rake, runner, generator, ...).
    # DUMPER_DISPATCHER overrides detection.
    def dispatcher(env = ENV, program = $PROGRAM_NAME)
      forced = env["DUMPER_DISPATCHER"].to_s.strip.downcase
      return forced unless forced.empty?
      base = File.basename(program.to_s)
      return "passenger" if defined?(::PhusionPassenger) && passenger_process?(base)
      return "resque" if defined?(::Resque) && (env["QUEUE"] || env["QUEUES"]) && resque_process?(base)
      return "sidekiq" if defined?(::Sidekiq::CLI) && (base =~ /sidekiq/ || sidekiq_running?)
      return "unicorn" if instance_of?("Unicorn::HttpServer") || base =~ /\Aunicorn/
      return "puma" if instance_of?("Puma::Launcher") || instance_of?("Puma::Runner") || base == "puma"
      return "thin" if instance_of?("Thin::Server") || base == "thin"
      handler = rails_server_handler
      return handler if handler
      return "webrick" if instance_of?("WEBrick::HTTPServer")
      nil
    end

    def passenger_process?(base)
      base =~ /Passenger|passenger/ || (defined?(::PhusionPassenger::App) ? true : false) ||
        (defined?(::PhusionPassenger::LoaderSharedHelpers) ? true : false)
    end

    def resque_process?(base)
      base =~ /resque/ || (defined?(::Rake) && ::Rake.respond_to?(:application) &&
        ::Rake.application.top_level_tasks.any? { |t| t.to_s.start_with?("resque:work", "environment resque:work") }) ||
        (defined?(::Resque::Worker) && instance_of?("Resque::Worker"))
    end

    def sidekiq_running?
      ::Sidekiq.respond_to?(:server?) && ::Sidekiq.server?
    rescue StandardError
      false
    end

    # `rails server` and `rackup`: the app is built before the handler runs, so ask the
    # Rack::Server (Rails::Server is one; Rackup::Server on Rack 3) which handler it will use.
    def rails_server_handler
      %w[Rails::Server Rackup::Server Rack::Server].each do |name|
        klass = constant(name)
        next unless klass
        srv = ObjectSpace.each_object(klass).first
        next unless srv
        handler = srv.respond_to?(:server) ? srv.server : nil
        h = (handler.is_a?(Module) ? handler.name : handler).to_s.split("::").last.to_s.downcase
        h = srv.options[:server].to_s.downcase if (h.empty? || !DISPATCHERS.include?(h)) && srv.respond_to?(:options)
        return h if DISPATCHERS.include?(h)
      end
      nil
    rescue StandardError
      nil
    end

    def constant(name)
      name.split("::").inject(Object) do |mod, c|
        return nil unless mod.const_defined?(c, false)
        mod.const_get(c, false)
      end
    end

    def instance_of?(class_name)
      klass = constant(class_name)
      klass ? ObjectSpace.each_object(klass).any? : false
    rescue StandardError
      false
    end

    # --- databases -------------------------------------------------------------------------------

    # Every database of the environment as [{key:, url:, type:}], url with its password (it goes
    # only to the C agent, which keeps it in memory). opts: the start options (per-type format,
    # custom_options, redis: {url:}, databases: [...]).
    def databases(opts = {}, env_name: nil, root: nil, env: ENV)
      opts = Config.symbolize(opts)
      list = []
      list.concat(active_record_databases(env_name, root))
      list.concat(mongoid_databases)
      list.concat(redis_databases(opts[:redis], env))
      Array(opts[:databases]).each do |d|
        d = Config.symbolize(d)
        next unless d[:url]
        list << {key: d[:key], url: d[:url].to_s, type: type_of(d[:url].to_s)}.merge(d.slice(:format, :custom_options))
      end
      # per-type options (postgresql: {format:, custom_options:}, ...)
      list.each do |d|
        type_opts = Config.symbolize(opts[d[:type].to_sym] || (d[:type] == "mongodb" ? opts[:mongo] : nil) || {})
        d[:format] ||= type_opts[:format]&.to_s
        d[:custom_options] ||= type_opts[:custom_options]&.to_s
      end
      dedupe(list)
    end

    def dedupe(list)
      seen = {}
      keys = Hash.new(0)
      list.each_with_object([]) do |d, out|
        next if seen[d[:url]]
        seen[d[:url]] = true
        key = (d[:key] || d[:type]).to_s.gsub(/[^A-Za-z0-9_.-]/, "_")[0, 60]
        keys[key] += 1
        key = "#{key}_#{keys[key]}" if keys[key] > 1
        out << d.merge(key: key).compact
      end
    end

    def type_of(url)
      case url
      when /\Apostgres(ql)?:/i then "postgresql"
      when /\A(mysql2?|mariadb):/i then "mysql"
      when /\Asqlite3?:/i then "sqlite"
      when /\Arediss?:/i then "redis"
      when /\Amongodb(\+srv)?:/i then "mongodb"
      else "unknown"
      end
    end

    # ActiveRecord: configs_for(env_name:) (Rails >= 6.1: configuration_hash with symbol keys; the
    # DATABASE_URL is already merged by ActiveRecord). Replicas and database_tasks: false are left
    # out (configs_for's default).
    def active_record_databases(env_name, root)
      return [] unless defined?(::ActiveRecord::Base) && ::ActiveRecord::Base.respond_to?(:configurations)
      configs = ::ActiveRecord::Base.configurations
      entries =
        if configs.respond_to?(:configs_for)
          begin
            configs.configs_for(env_name: env_name.to_s)
          rescue ArgumentError
            configs.configs_for(env_name.to_s) # Rails 5.x
          end
        else
          []
        end
      Array(entries).filter_map do |c|
        hash = c.respond_to?(:configuration_hash) ? c.configuration_hash : c.config
        name = c.respond_to?(:name) ? c.name : (c.respond_to?(:spec_name) ? c.spec_name : "primary")
        url = active_record_url(Config.symbolize(hash), root)
        url && {key: name.to_s, url: url, type: type_of(url)}
      end
    end

    # A dumper URL from one ActiveRecord configuration hash (symbol keys), or nil when the adapter
    # is not one dumper backs up.
    def active_record_url(h, root)
      adapter = h[:adapter].to_s
      case adapter
      when "postgresql", "postgis"
        server_url("postgres", h, 5432, {sslmode: h[:sslmode], target_session_attrs: h[:target_session_attrs]})
      when "mysql2", "trilogy", "mysql"
        server_url("mysql", h, nil, {})
      when "sqlite3", "sqlite"
        db = h[:database].to_s
        return nil if db.empty? || db.start_with?(":memory:") || db.include?("mode=memory")
        db = db.delete_prefix("file:")
        path = root ? File.expand_path(db, root.to_s) : File.expand_path(db)
        "sqlite://#{path}"
      end
    end

    def server_url(scheme, h, _default_port, params)
      host = h[:host].to_s
      socket = h[:socket].to_s
      params = params.dup
      if host.start_with?("/")
        params[:host] = host
        host = ""
      end
      params[:host] = socket unless socket.empty?
      host = "127.0.0.1" if host.empty? && params[:host].nil? && scheme == "mysql"
      userinfo = ""
      user = (h[:username] || h[:user]).to_s
      unless user.empty?
        userinfo = esc(user)
        pw = h[:password].to_s
        userinfo += ":#{esc(pw)}" unless pw.empty?
        userinfo += "@"
      end
      hostpart = host_part(host, h[:port])
      q = params.compact.reject { |_, v| v.to_s.empty? }.map { |k, v| "#{k}=#{esc(v.to_s)}" }.join("&")
      "#{scheme}://#{userinfo}#{hostpart}/#{esc(h[:database].to_s)}#{q.empty? ? '' : "?#{q}"}"
    end

    # "db:5432", "[::1]:5432"; a libpq host list ("h1,h2": ActiveRecord hands host to libpq as is)
    # becomes "h1:p1,h2:p2", one port applying to every host as in libpq.
    def host_part(host, port)
      unless host.include?(",")
        part = host.include?(":") ? "[#{host}]" : host
        return port ? "#{part}:#{port}" : part
      end
      hosts = host.split(",", -1)
      ports = port.to_s.split(",", -1)
      ports = Array.new(hosts.size, ports.first) if ports.size <= 1
      hosts.each_with_index.map do |one, i|
        part = one.include?(":") ? "[#{one}]" : one
        ports[i].to_s.empty? ? part : "#{part}:#{ports[i]}"
      end.join(",")
    end

    # Percent-encodes everything but unreserved characters (as ERB::Util.url_encode does).
    def esc(s)
      s.to_s.b.gsub(/[^a-zA-Z0-9_\-.~]/n) { |m| format("%%%02X", m.unpack1("C")) }
    end

    # Mongoid clients (when Mongoid is loaded): uri, or hosts + database.
    def mongoid_databases
      return [] unless defined?(::Mongoid) && ::Mongoid.respond_to?(:clients)
      ::Mongoid.clients.filter_map do |name, cfg|
        cfg = Config.symbolize(cfg)
        url = cfg[:uri]
        if url.nil? && cfg[:hosts]
          o = Config.symbolize(cfg[:options] || {})
          auth = o[:user] ? "#{esc(o[:user].to_s)}#{o[:password] ? ":#{esc(o[:password].to_s)}" : ''}@" : ""
          url = "mongodb://#{auth}#{Array(cfg[:hosts]).join(',')}/#{cfg[:database]}"
        end
        url && {key: "mongoid_#{name}", url: url.to_s, type: "mongodb"}
      end
    rescue StandardError
      []
    end

    # redis-rb: an explicit redis: {url:} option, else the app's Redis.current if it set one (never
    # created here: that would be a client of ours), else REDIS_URL. No connection is made.
    def redis_databases(redis_opts, env)
      redis_opts = Config.symbolize(redis_opts || {})
      return [{key: "redis", url: redis_opts[:url].to_s, type: "redis"}] if redis_opts[:url]
      url = redis_current_url
      url ||= env["REDIS_URL"] if defined?(::Redis) && env["REDIS_URL"] && !env["REDIS_URL"].empty?
      url ? [{key: "redis", url: url, type: "redis"}] : []
    end

    def redis_current_url
      return nil unless defined?(::Redis)
      current = ::Redis.instance_variable_defined?(:@current) ? ::Redis.instance_variable_get(:@current) : nil
      return nil unless current
      client = current.respond_to?(:_client) ? current._client : nil
      o = client.respond_to?(:options) ? client.options : nil
      return nil unless o
      return nil if o[:path] # unix socket: not a dumper URL
      auth = o[:password] ? ":#{esc(o[:password].to_s)}@" : ""
      "#{o[:scheme] || 'redis'}://#{auth}#{o[:host]}:#{o[:port]}/#{o[:db] || 0}"
    rescue StandardError
      nil
    end

    # The URL with any password replaced by ***, for logs.
    def redact(url)
      url.to_s.sub(%r{\A([a-z0-9+]+://[^/@:]*):[^@/]*@}i, '\1:***@').sub(%r{\A([a-z0-9+]+://):[^@/]*@}i, '\1:***@')
    end
  end
end
