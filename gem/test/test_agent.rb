# frozen_string_literal: true

require_relative "test_helper"

class TestAgent < Minitest::Test
  def setup
    FakeNative.install!
    Dumper::Agent.reset!
    @env = {"DUMPER_DISPATCHER" => "puma", "DUMPER_APP_KEY" => nil, "DUMPER_DISABLED" => nil,
            "DUMPER_API_BASE" => nil, "DUMPER_DEBUG" => nil, "REDIS_URL" => nil, "RAILS_ENV" => "production"}
  end

  def test_start_launches_with_the_options
    with_env(@env) do
      Dumper::Agent.start(app_key: "k1", api_base: "http://dumperd:8477", debug: true,
                          databases: [{url: "sqlite:///tmp/a.db", key: "a"}])
    end
    assert_equal 1, FakeNative.calls.size
    c = FakeNative.calls.first
    assert_equal "k1", c[:app_key]
    assert_equal "http://dumperd:8477", c[:api_base]
    assert_equal "puma", c[:dispatcher]
    assert_equal true, c[:debug]
    assert_equal [{key: "a", url: "sqlite:///tmp/a.db"}], c[:databases]
    assert_match(/dumper_agent\.log\z/, c[:log_file])
    assert_equal Process.pid, Dumper::Agent.started_pid
  end

  def test_job_priority_options
    with_env(@env) { Dumper::Agent.start(app_key: "k1", job_nice: 15, job_ionice: "best-effort:7") }
    c = FakeNative.calls.first
    assert_equal 15, c[:job_nice]
    assert_equal "best-effort:7", c[:job_ionice]
    [[:keep, -1], ["keep", -1], ["5", 5], [nil, nil]].each do |given, sent|
      FakeNative.calls.clear
      Dumper::Agent.reset!
      with_env(@env) { Dumper::Agent.start(app_key: "k1", job_nice: given) }
      sent.nil? ? assert_nil(FakeNative.calls.first[:job_nice]) : assert_equal(sent, FakeNative.calls.first[:job_nice])
      assert_nil FakeNative.calls.first[:job_ionice] # not given: the app's setting in dumperd, else the default
    end
  end

  def test_drill_scratch
    with_env(@env.merge("DUMPER_DRILL_SCRATCH" => nil, "DUMPER_DRILL_SCRATCH_PASSWORD" => nil)) do
      Dumper::Agent.start(app_key: "k1")
    end
    assert_nil FakeNative.calls.first[:drill_scratch] # none: SQLite and Redis drills need none
    assert_nil FakeNative.calls.first[:drill_scratch_password]
    FakeNative.calls.clear
    Dumper::Agent.reset!
    with_env(@env.merge("DUMPER_DRILL_SCRATCH" => "postgres://env@s/postgres", "DUMPER_DRILL_SCRATCH_PASSWORD" => "pw-env")) do
      Dumper::Agent.start(app_key: "k1", drill_scratch: "postgres://drill@scratch:5432/postgres")
    end
    c = FakeNative.calls.first
    assert_equal "postgres://drill@scratch:5432/postgres", c[:drill_scratch] # the argument wins
    assert_equal "pw-env", c[:drill_scratch_password]
  end

  def test_drill_identity
    with_env(@env.merge("DUMPER_DRILL_IDENTITY" => nil)) { Dumper::Agent.start(app_key: "k1") }
    assert_nil FakeNative.calls.first[:drill_identities] # none: an encrypted backup's drill reports an error
    FakeNative.calls.clear
    Dumper::Agent.reset!
    with_env(@env.merge("DUMPER_DRILL_IDENTITY" => "/etc/dumper/env.key")) { Dumper::Agent.start(app_key: "k1") }
    assert_equal ["/etc/dumper/env.key"], FakeNative.calls.first[:drill_identities]
    FakeNative.calls.clear
    Dumper::Agent.reset!
    with_env(@env.merge("DUMPER_DRILL_IDENTITY" => "/etc/dumper/env.key")) do
      Dumper::Agent.start(app_key: "k1", drill_identity: ["/k/a.key", "/k/b.key"])
    end
    assert_equal ["/k/a.key", "/k/b.key"], FakeNative.calls.first[:drill_identities] # the argument wins
  end

  def test_old_style_hash_keys
    with_env(@env) { Dumper::Agent.start(:app_key => "k2") }
    assert_equal "k2", FakeNative.calls.first[:app_key]
    Dumper::Agent.reset!
    FakeNative.calls.clear
    with_env(@env) { Dumper::Agent.start("app_key" => "k3") }
    assert_equal "k3", FakeNative.calls.first[:app_key]
  end

  def test_idempotent_per_process
    with_env(@env) do
      Dumper::Agent.start(app_key: "k")
      Dumper::Agent.start(app_key: "k")
      Dumper::Agent.boot
    end
    assert_equal 1, FakeNative.calls.size
  end

  def test_a_forked_child_may_start_its_own
    with_env(@env) { Dumper::Agent.start(app_key: "k") }
    Dumper::Agent.instance_variable_set(:@started_pid, Process.pid + 1) # as seen from a fork
    with_env(@env) { Dumper::Agent.boot }
    assert_equal 2, FakeNative.calls.size
  end

  def test_start_if_evaluates_the_block_at_the_call
    evaluated = 0
    with_env(@env) { Dumper::Agent.start_if(app_key: "k") { evaluated += 1; false } }
    assert_equal 1, evaluated
    assert_empty FakeNative.calls
    with_env(@env) { Dumper::Agent.start_if(app_key: "k") { evaluated += 1; true } }
    assert_equal 2, evaluated
    assert_equal 1, FakeNative.calls.size
  end

  def test_env_key_when_no_argument
    with_env(@env.merge("DUMPER_APP_KEY" => "from_env")) { Dumper::Agent.start }
    assert_equal "from_env", FakeNative.calls.first[:app_key]
  end

  # Runs the block with Rails.logger writing to a string (the gem's log lines go there) and
  # Config.rails_credentials answering creds; returns the log.
  def with_rails_log(creds = nil)
    require "logger"
    require "stringio"
    io = StringIO.new
    # no Rails app in these tests: the Rails module (loaded by the generator's tests) may lack a logger
    Rails.singleton_class.attr_accessor(:logger) unless Rails.respond_to?(:logger=)
    old_logger = Rails.logger
    Rails.logger = Logger.new(io)
    Dumper::Config.singleton_class.alias_method(:real_rails_credentials, :rails_credentials)
    Dumper::Config.define_singleton_method(:rails_credentials) { creds }
    yield
    io.string
  ensure
    Rails.logger = old_logger
    Dumper::Config.singleton_class.alias_method(:rails_credentials, :real_rails_credentials)
  end

  def test_the_log_says_starting_and_where_the_key_came_from_never_the_key
    log = with_rails_log { with_env(@env) { Dumper::Agent.start(app_key: "dk_secret_arg") } }
    assert_match(/INFO -- : \[Dumper\] \[[^\]]+\] agent starting in puma process #{Process.pid} \(environment production, api default, app key from the app_key: argument; registration and its failures are logged to \S+dumper_agent\.log\); databases: /, log)
    refute_match(/started/, log)
    refute_match(/dk_secret/, log)
  end

  def test_credentials_beat_env_and_the_ignored_variable_is_named
    log = with_rails_log({app_key: "dk_from_credentials"}) do
      with_env(@env.merge("DUMPER_APP_KEY" => "dk_from_env")) { Dumper::Agent.start }
    end
    assert_equal "dk_from_credentials", FakeNative.calls.first[:app_key]
    assert_match(/WARN -- : \[Dumper\] \[[^\]]+\] DUMPER_APP_KEY is set but ignored: the app key comes from credentials \(dumper\.app_key\), which comes first/, log)
    assert_match(/app key from credentials \(dumper\.app_key\);/, log)
    refute_match(/dk_from/, log)
  end

  def test_no_key_no_start
    with_env(@env) { Dumper::Agent.start }
    assert_empty FakeNative.calls
  end

  def test_disabled_kill_switch
    with_env(@env.merge("DUMPER_DISABLED" => "1")) { Dumper::Agent.start(app_key: "k") }
    assert_empty FakeNative.calls
  end

  def test_no_dispatcher_no_start
    with_env(@env.merge("DUMPER_DISPATCHER" => nil)) do
      $PROGRAM_NAME.then { |old| $PROGRAM_NAME = "rake"; Dumper::Agent.start(app_key: "k"); $PROGRAM_NAME = old }
    end
    assert_empty FakeNative.calls
  end

  def test_console_runner_generator_contexts
    Dumper::Agent.context = "rails console"
    with_env(@env) { Dumper::Agent.start(app_key: "k") }
    assert_empty FakeNative.calls
  end

  def test_test_environment
    with_env(@env.merge("RAILS_ENV" => "test")) { Dumper::Agent.start(app_key: "k") }
    assert_empty FakeNative.calls
  end

  def test_native_failure_is_not_raised
    FakeNative.rc = 2
    with_env(@env) { assert_nil Dumper::Agent.start(app_key: "k") }
    assert_nil Dumper::Agent.started_pid
  end

  def test_missing_extension_is_a_logged_no_op
    Dumper.instance_variable_set(:@native_error, "the dumper native extension could not be loaded (test)")
    out = nil
    with_env(@env.merge("DUMPER_DEBUG" => "1")) do
      _, out = capture_io { assert_nil Dumper::Agent.start(app_key: "k") }
    end
    assert_empty FakeNative.calls
    assert_match(/could not be loaded/, out)
  ensure
    Dumper.instance_variable_set(:@native_error, nil)
  end

  def test_resque_starts_before_the_first_fork
    hooks = []
    resque = Module.new
    resque.define_singleton_method(:before_first_fork) { |&b| hooks << b }
    Object.const_set(:Resque, resque)
    with_env(@env.merge("DUMPER_DISPATCHER" => "resque")) do
      Dumper::Agent.start(app_key: "k")
      assert_empty FakeNative.calls, "not at load: the worker may daemonize first"
      hooks.each(&:call)
    end
    assert_equal "resque", FakeNative.calls.first[:dispatcher]
  ensure
    Object.send(:remove_const, :Resque) if defined?(::Resque)
  end

  def test_passenger_starts_in_worker_processes
    events = Hash.new { |h, k| h[k] = [] }
    pp = Module.new
    pp.define_singleton_method(:on_event) { |name, &b| events[name] << b }
    Object.const_set(:PhusionPassenger, pp)
    with_env(@env.merge("DUMPER_DISPATCHER" => "passenger")) do
      Dumper::Agent.start(app_key: "k")
      assert_empty FakeNative.calls, "not in the preloader"
      events[:starting_worker_process].each { |b| b.call(true) }
    end
    assert_equal "passenger", FakeNative.calls.first[:dispatcher]
    assert_equal 1, events[:stopping_worker_process].size
  ensure
    Object.send(:remove_const, :PhusionPassenger) if defined?(::PhusionPassenger)
  end
end
