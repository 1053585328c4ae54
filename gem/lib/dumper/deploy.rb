# frozen_string_literal: true

require "json"
require "net/http"
require "uri"

module Dumper
  # A backup failed, timed out or could not be asked for (Dumper.backup!).
  class BackupError < StandardError; end

  # Deploy hooks: ask dumperd for a backup of this app's databases through its REST API (docs/api.md) and
  # wait until every one is good, so a deploy can run `bin/rails dumper:backup` before `db:migrate`.
  #
  # The credential is the app key the agent already uses (credentials, DUMPER_APP_KEY or app_key:): on the
  # REST API an app key may only list its own app, trigger a backup of it and read its jobs, so the deploy
  # host needs no second secret and the key gains nothing an agent could not do already. An API token
  # (token: or DUMPER_API_TOKEN, scope write) is used instead when given, e.g. on a CI runner that holds
  # no app key.
  module Deploy
    RETRIES = 3

    module_function

    # See Dumper.backup!.
    def backup!(wait: true, timeout: nil, environment: nil, database: nil, app: nil, token: nil, app_key: nil,
                api_base: nil, poll_interval: 2, out: $stdout)
      settings, = Config.resolve({app_key: app_key, api_base: api_base}.compact, credentials: Config.rails_credentials)
      cred = [token, ENV["DUMPER_API_TOKEN"], settings[:app_key]].find { |v| Config.given?(v) }
      raise BackupError, "no credential: set the app key (credentials, DUMPER_APP_KEY) or DUMPER_API_TOKEN" unless cred
      base = (settings[:api_base] || "http://127.0.0.1:8477").to_s.chomp("/")
      env = environment || Agent.environment_name
      timeout = (timeout || ENV["DUMPER_BACKUP_TIMEOUT"] || 3600).to_f
      database ||= ENV["DUMPER_BACKUP_DATABASE"] if Config.given?(ENV["DUMPER_BACKUP_DATABASE"])
      client = Client.new(base, cred.to_s)
      name = app || (ENV["DUMPER_APP"] if Config.given?(ENV["DUMPER_APP"])) || only_app(client)
      path = "/api/v1/apps/#{URI.encode_www_form_component(name)}"
      body = {environment: env}
      body[:database] = database if database
      queued = client.call(:post, "#{path}/backups", body, want: 202)
      jobs = queued["jobs"]
      say(out, "backup of #{name} (#{env}) queued: #{jobs.join(', ')}")
      return {app: name, environment: env, jobs: jobs.to_h { |j| [j, "pending"] }} unless wait
      wait_for(client, path, jobs, timeout, poll_interval, out).then do |states|
        {app: name, environment: env, jobs: states}
      end
    end

    def only_app(client)
      apps = client.call(:get, "/api/v1/apps")["apps"].map { |a| a["name"] }
      return apps.first if apps.size == 1
      raise BackupError, "this credential sees #{apps.size} apps: name one (app: or DUMPER_APP)"
    end

    def wait_for(client, path, jobs, timeout, interval, out)
      deadline = monotonic + timeout
      states = jobs.to_h { |j| [j, "pending"] }
      loop do
        states.each_key do |j|
          next unless states[j] == "pending"
          s = client.call(:get, "#{path}/jobs/#{j}")
          next if s["result"] == "pending"
          states[j] = s["result"]
          if s["result"] == "good"
            say(out, "#{j} (#{s['database_key']}): good, #{s['backup_id']}")
          else
            why = [s["error_code"], s["error_message"]].compact.join(": ")
            say(out, "#{j} (#{s['database_key']}): failed#{why.empty? ? '' : " (#{why})"}")
          end
        end
        bad = states.reject { |_, v| v == "good" }
        return states if bad.empty?
        if bad.none? { |_, v| v == "pending" }
          raise BackupError, "backup failed: #{bad.keys.join(', ')} (see above and `dumperd backups`)"
        end
        if monotonic >= deadline
          raise BackupError, "backup not finished after #{timeout.round} s: #{bad.keys.join(', ')} still pending " \
                             "(is an agent of this app running? DUMPER_BACKUP_TIMEOUT raises the limit)"
        end
        sleep [interval, [deadline - monotonic, 0].max].min
      end
    end

    def monotonic
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    def say(out, msg)
      out&.puts("[Dumper] #{msg}")
      out&.flush
    end

    # JSON over HTTP(S) with the bearer credential; transport errors and 5xx are retried.
    class Client
      def initialize(base, cred)
        @base = URI(base)
        @cred = cred
      end

      def call(method, path, body = nil, want: 200)
        attempt = 0
        begin
          attempt += 1
          res = request(method, path, body)
          raise Retry, "HTTP #{res.code}" if res.code.to_i >= 500 && attempt < RETRIES
        rescue Retry, SystemCallError, IOError, Timeout::Error, Net::OpenTimeout, Net::ReadTimeout => e
          raise BackupError, "dumperd at #{@base} unreachable: #{e.class}: #{e.message}" if attempt >= RETRIES
          sleep 0.5 * (2**attempt)
          retry
        end
        json = parse(res)
        return json if res.code.to_i == want
        raise BackupError, "#{method.upcase} #{path}: HTTP #{res.code}: #{json['message'] || res.message}"
      end

      class Retry < StandardError; end

      private

      def request(method, path, body)
        http = Net::HTTP.new(@base.host, @base.port)
        http.use_ssl = @base.scheme == "https"
        http.ca_file = ENV["DUMPER_CA_FILE_PATH"] if http.use_ssl? && Config.given?(ENV["DUMPER_CA_FILE_PATH"])
        http.open_timeout = 10
        http.read_timeout = 30
        req = (method == :post ? Net::HTTP::Post : Net::HTTP::Get).new(path)
        req["Authorization"] = "Bearer #{@cred}"
        req["Accept"] = "application/json"
        if body
          req["Content-Type"] = "application/json"
          req.body = JSON.generate(body)
        end
        http.start { |h| h.request(req) }
      end

      def parse(res)
        JSON.parse(res.body.to_s)
      rescue JSON::ParserError
        {"message" => "not a JSON answer (is #{@base} dumperd?)"}
      end
    end
  end

  # Ask dumperd for a backup of this app's databases (the environment's, or one) and, with wait: true, wait
  # until every one is good: returns {app:, environment:, jobs: {"j_1" => "good", ...}}; raises
  # Dumper::BackupError when one failed, the wait timed out (timeout: seconds, DUMPER_BACKUP_TIMEOUT,
  # default 3600) or dumperd refused (wrong key, no agent registered a database). Progress lines go to
  # out: (nil: quiet). See docs/gem.md, "Deploy hooks".
  def self.backup!(**kw)
    Deploy.backup!(**kw)
  end
end
