# frozen_string_literal: true

module Dumper
  # The public API of the gem (as in the original dumper gem):
  #   Dumper::Agent.start(app_key: "...", debug: false, api_base: nil,   # or from credentials / ENV (Config)
  #                       postgresql: {format:, custom_options:}, mysql: {...}, mongodb: {...},
  #                       redis: {...}, sqlite: {...})
  #   Dumper::Agent.start_if(app_key: "...") { condition }   # the block is evaluated at the call
  #   Dumper::Agent.stop
  # start only records the options; the agent starts once every initializer ran (after_initialize),
  # in a process that serves the app (see Dumper::Stack.dispatcher), at most once per process.
  module Agent
    @options = nil
    @started_pid = nil
    @hooked = false
    @context = nil

    class << self
      attr_accessor :context # :console, :runner, :generator, :rake (set by the Railtie)
      attr_reader :options, :started_pid

      def start(options = nil, **kw)
        @options = Config.symbolize(options).merge(Config.symbolize(kw))
        if defined?(::ActiveSupport) && defined?(::Rails::Railtie)
          unless @hooked
            @hooked = true
            # runs after all initializers, or at once when the app is already initialized
            ::ActiveSupport.on_load(:after_initialize) { Dumper::Agent.boot }
          end
        else
          boot
        end
        nil
      rescue StandardError => e
        log(:error, "start failed: #{e.class}: #{e.message}")
        nil
      end

      def start_if(options = nil, **kw)
        unless block_given? && yield
          log(:info, "start_if: condition is false, agent not started")
          return nil
        end
        start(options, **kw)
      end

      # Stops this process's agent (only the process that started it has one).
      def stop
        return false unless @started_pid == Process.pid && Dumper.native?
        @started_pid = nil
        rc = ::Dumper::Native.stop
        log(:info, "agent stopped") if rc.zero?
        rc.zero?
      rescue StandardError => e
        log(:error, "stop failed: #{e.class}: #{e.message}")
        false
      end

      def running?
        @started_pid == Process.pid && Dumper.native? && ::Dumper::Native.status[:running]
      end

      def status
        Dumper.native? ? ::Dumper::Native.status : {running: false, role: "none"}
      end

      # Called after initialization: decides whether and where the agent runs in this process.
      def boot
        return if @started_pid == Process.pid
        reason = skip_reason
        if reason
          log(:info, "agent not started: #{reason}")
          return
        end
        dispatcher = Stack.dispatcher
        unless dispatcher
          log(:info, "agent not started: no app server or job runner detected " \
                     "(console, rake task, runner or generator; set DUMPER_DISPATCHER to force)")
          return
        end
        case dispatcher
        when "passenger"
          # Smart spawning preloads the app in a preloader that Passenger kills when idle; start in
          # every worker process instead (forked or directly spawned) and stop when it stops.
          if defined?(::PhusionPassenger) && ::PhusionPassenger.respond_to?(:on_event)
            ::PhusionPassenger.on_event(:starting_worker_process) { |_forked| Dumper::Agent.launch("passenger") }
            ::PhusionPassenger.on_event(:stopping_worker_process) { Dumper::Agent.stop }
            log(:info, "passenger: the agent starts in each worker process")
            return
          end
        when "resque"
          # Resque may daemonize (BACKGROUND) after loading the app and forks a child per job:
          # start in the worker once it is ready, before its first fork.
          if defined?(::Resque) && ::Resque.respond_to?(:before_first_fork)
            ::Resque.before_first_fork { Dumper::Agent.launch("resque") }
            log(:info, "resque: the agent starts before the worker's first fork")
            return
          end
        end
        launch(dispatcher)
      rescue StandardError => e
        log(:error, "agent not started: #{e.class}: #{e.message}")
      end

      def skip_reason
        return "DUMPER_DISABLED is set" if Config.disabled?
        return "running in a #{@context}" if @context
        return "running in a rails console" if defined?(::Rails::Console)
        return "test environment" if rails_env == "test"
        nil
      end

      # Starts the native agent in this process now.
      def launch(dispatcher)
        return true if @started_pid == Process.pid
        return false if Config.disabled?
        credentials = Config.rails_credentials
        settings, sources = Config.resolve(@options || {}, credentials: credentials)
        unless settings[:app_key] && !settings[:app_key].to_s.empty?
          log(:warn, "agent not started: no app key (pass app_key:, put dumper: {app_key: ...} in the Rails " \
                     "credentials, or set DUMPER_APP_KEY)")
          return false
        end
        Config.shadowed(@options || {}, credentials: credentials).each { |line| log(:warn, line) }
        unless Dumper.native?
          log(:error, "agent not started: #{Dumper.native_error || 'the native extension is not available'}")
          return false
        end
        helper = Dumper.helper_path
        dbs = Stack.databases(settings, env_name: environment_name, root: rails_root)
        native = {
          app_key: settings[:app_key].to_s,
          api_base: settings[:api_base]&.to_s,
          environment: environment_name,
          app_name: app_name,
          framework: framework,
          dispatcher: dispatcher,
          dumper_path: helper,
          log_file: agent_log_file(settings),
          debug: settings[:debug],
          ca_file: (settings[:ca_file] || ENV["DUMPER_CA_FILE_PATH"])&.to_s,
          proxy: (settings[:proxy] || ENV["DUMPER_HTTP_PROXY"])&.to_s,
          # job priority: nil = the app's setting in dumperd, else nice 10 / I/O idle; :keep = the host's own
          job_nice: job_nice(settings[:job_nice]),
          job_ionice: settings[:job_ionice]&.to_s,
          # restore drills dumperd asks for: a scratch server for PostgreSQL/MySQL backups (its password
          # goes to the drill's job process on stdin, never to dumperd)
          drill_scratch: drill_setting(settings, credentials, :drill_scratch, "DUMPER_DRILL_SCRATCH"),
          drill_scratch_password: drill_setting(settings, credentials, :drill_scratch_password,
                                                "DUMPER_DRILL_SCRATCH_PASSWORD"),
          # age identity files that open the app's encrypted backups in a drill (only their paths go to the job
          # process; the keys stay in the files, never sent to dumperd)
          drill_identities: drill_identities(settings, credentials),
          databases: dbs.map { |d| d.slice(:key, :url, :format, :custom_options) }
        }.compact
        rc = ::Dumper::Native.start(native)
        if rc.zero?
          @started_pid = Process.pid
          # A graceful stop releases the primary lease at once (dumperd hands it to the next agent). libdumper's
          # own atexit handler is not enough: a server that re-raises SIGTERM (puma) dies by the signal after
          # Ruby's at_exit blocks ran, and C's atexit handlers never run. (A forked child's stop is a no-op.)
          @exit_hook ||= at_exit { Dumper::Agent.stop } && true
          # "starting": the agent registers in its own thread; whether dumperd took it (primary or
          # secondary) or why not is in the agent's log, never known here without a request
          log(:info, "agent starting in #{dispatcher} process #{Process.pid} (environment #{environment_name}, " \
                     "api #{native[:api_base] || 'default'}, app key from #{Config.describe(sources[:app_key], :app_key)}; " \
                     "registration and its failures are logged to #{native[:log_file]}); databases: " \
                     "#{dbs.empty? ? 'none' : dbs.map { |d| "#{d[:key]}=#{Stack.redact(d[:url])}" }.join(', ')}")
          log(:info, "settings from: #{sources.map { |k, v| "#{k}=#{v}" }.join(', ')}") if settings[:debug]
          log(:warn, "the dumper helper executable was not found next to the extension; jobs use $PATH") unless helper
          true
        else
          log(:error, "agent not started: #{::Dumper::Native.strerror(rc)} (see #{native[:log_file]})")
          false
        end
      rescue StandardError => e
        log(:error, "agent not started: #{e.class}: #{e.message}")
        false
      end

      def environment_name
        ENV["DUMPER_ENV"].to_s.empty? ? (rails_env || "production") : ENV["DUMPER_ENV"]
      end

      def rails_env
        defined?(::Rails) && ::Rails.respond_to?(:env) ? ::Rails.env.to_s : ENV["RAILS_ENV"]
      end

      def rails_root
        defined?(::Rails) && ::Rails.respond_to?(:root) && ::Rails.root ? ::Rails.root.to_s : Dir.pwd
      end

      def app_name
        return nil unless defined?(::Rails) && ::Rails.respond_to?(:application) && ::Rails.application
        klass = ::Rails.application.class
        (klass.respond_to?(:module_parent_name) ? klass.module_parent_name : klass.name.split("::").first).to_s
      end

      def framework
        defined?(::Rails::VERSION) ? "rails #{::Rails::VERSION::STRING}" : "ruby #{RUBY_VERSION}"
      end

      # drill_scratch / drill_scratch_password: an argument, else the credentials (dumper: {drill_scratch: ...}),
      # else the environment; nil when unset or empty
      def drill_setting(settings, credentials, key, var)
        creds = Config.symbolize(credentials || {})
        [settings[key], creds[key], ENV[var]].map { |v| v&.to_s }.find { |v| v && !v.empty? }
      end

      # drill_identity: a path or an Array of paths (an argument, else the credentials, else
      # DUMPER_DRILL_IDENTITY); nil when unset
      def drill_identities(settings, credentials)
        creds = Config.symbolize(credentials || {})
        v = [settings[:drill_identity], creds[:drill_identity], ENV["DUMPER_DRILL_IDENTITY"]].find do |x|
          !x.nil? && !Array(x).empty? && !x.to_s.empty?
        end
        v && Array(v).map(&:to_s)
      end

      # job_nice: an Integer 1..19 (checked by the agent, which refuses to start otherwise, with a logged
      # reason), :keep / "keep" (the host's own priority: -1), or nil (the default)
      def job_nice(value)
        return nil if value.nil?
        return -1 if value.to_s == "keep"
        n = Integer(value.to_s, exception: false)
        log(:warn, "job_nice #{value.inspect} ignored: an Integer 1..19 or :keep") unless n
        n
      end

      def agent_log_file(settings)
        return settings[:log_file].to_s if settings[:log_file]
        dir = File.join(rails_root, "log")
        unless File.directory?(dir) && File.writable?(dir)
          require "tmpdir" # only here: loading the gem stays cheap
          dir = Dir.tmpdir
        end
        File.join(dir, "dumper_agent.log")
      end

      def log(level, msg)
        line = "[Dumper] [#{Dumper::VERSION}] #{msg}"
        logger = defined?(::Rails) && ::Rails.respond_to?(:logger) ? ::Rails.logger : nil
        if logger
          logger.public_send(level, line)
        elsif level != :info || ENV["DUMPER_DEBUG"]
          Kernel.warn(line)
        end
      rescue StandardError
        nil
      end

      # For tests: forget the state of this process.
      def reset!
        @options = nil
        @started_pid = nil
        @hooked = false
        @context = nil
      end
    end
  end
end
