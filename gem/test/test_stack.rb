# frozen_string_literal: true

require_relative "test_helper"

require "active_record" # Debian's ActiveRecord 6.1: the real configuration objects

class TestStack < Minitest::Test
  def setup
    @old_url = ENV.delete("DATABASE_URL")
    @old_env = ENV["RAILS_ENV"]
    ENV["RAILS_ENV"] = "production"
  end

  def teardown
    ENV["DATABASE_URL"] = @old_url
    ENV["RAILS_ENV"] = @old_env
    ActiveRecord::Base.configurations = {}
  end

  def url(h, root = "/app")
    Dumper::Stack.active_record_url(h, root)
  end

  def test_postgresql_with_password_and_port
    assert_equal "postgres://shop:s%40cret%2F1@db1:5433/shop_prod",
                 url({adapter: "postgresql", host: "db1", port: 5433, username: "shop", password: "s@cret/1", database: "shop_prod"})
  end

  def test_postgresql_host_list
    assert_equal "postgres://u@db1:5433,db2:5433/shop?target_session_attrs=read-write",
                 url({adapter: "postgresql", host: "db1,db2", port: 5433, username: "u", database: "shop",
                      target_session_attrs: "read-write"})
    assert_equal "postgres://u@db1:5432,[::1]:5433,db3/shop",
                 url({adapter: "postgresql", host: "db1,::1,db3", port: "5432,5433,", username: "u", database: "shop"})
    assert_equal "postgres://u@db1,db2/shop", url({adapter: "postgresql", host: "db1,db2", username: "u", database: "shop"})
  end

  def test_postgis_and_socket_directory
    assert_equal "postgres:///shop?host=%2Fvar%2Frun%2Fpostgresql",
                 url({adapter: "postgis", host: "/var/run/postgresql", database: "shop"})
  end

  def test_mysql2_and_trilogy
    assert_equal "mysql://root:pw@127.0.0.1:3307/shop", url({adapter: "mysql2", host: "127.0.0.1", port: 3307, username: "root", password: "pw", database: "shop"})
    assert_equal "mysql://u@db/shop", url({adapter: "trilogy", host: "db", username: "u", database: "shop"})
    assert_equal "mysql://u@127.0.0.1/shop", url({adapter: "mysql2", username: "u", database: "shop"})
    assert_equal "mysql://u@/shop?host=%2Frun%2Fmysqld.sock", url({adapter: "mysql2", username: "u", socket: "/run/mysqld.sock", database: "shop"})
  end

  def test_sqlite_relative_path_resolved_against_root
    assert_equal "sqlite:///app/db/production.sqlite3", url({adapter: "sqlite3", database: "db/production.sqlite3"})
    assert_equal "sqlite:///data/x.db", url({adapter: "sqlite3", database: "/data/x.db"})
    assert_nil url({adapter: "sqlite3", database: ":memory:"})
  end

  def test_unknown_adapter_is_skipped
    assert_nil url({adapter: "oracle_enhanced", database: "x"})
  end

  def test_every_database_of_the_environment
    ActiveRecord::Base.configurations = {
      "production" => {
        "primary" => {"adapter" => "postgresql", "host" => "db", "username" => "u", "password" => "p", "database" => "main"},
        "primary_replica" => {"adapter" => "postgresql", "host" => "db-r", "database" => "main", "replica" => true},
        "animals" => {"adapter" => "mysql2", "host" => "db2", "username" => "u", "database" => "animals"},
        "cache" => {"adapter" => "sqlite3", "database" => "db/cache.sqlite3"}
      },
      "development" => {"primary" => {"adapter" => "sqlite3", "database" => "db/dev.sqlite3"}}
    }
    dbs = Dumper::Stack.databases({postgresql: {format: "dump", custom_options: "--no-owner"}, "sqlite" => {"format" => "sql"}},
                                  env_name: "production", root: "/srv/app", env: {})
    assert_equal %w[primary animals cache], dbs.map { |d| d[:key] }, "replicas are left out"
    assert_equal %w[postgresql mysql sqlite], dbs.map { |d| d[:type] }
    assert_equal "postgres://u:p@db/main", dbs[0][:url]
    assert_equal "dump", dbs[0][:format]
    assert_equal "--no-owner", dbs[0][:custom_options]
    assert_nil dbs[1][:format]
    assert_equal "sql", dbs[2][:format]
    assert_equal "sqlite:///srv/app/db/cache.sqlite3", dbs[2][:url]
  end

  def test_database_url_is_merged_into_primary
    ENV["DATABASE_URL"] = "postgres://app:s3cret@pg.internal:5433/shop_production"
    ActiveRecord::Base.configurations = {
      "production" => {"primary" => {"adapter" => "postgresql", "pool" => 5},
                       "cache" => {"adapter" => "sqlite3", "database" => "db/cache.sqlite3"}}
    }
    dbs = Dumper::Stack.databases({}, env_name: "production", root: "/srv/app", env: {})
    assert_equal [["primary", "postgres://app:s3cret@pg.internal:5433/shop_production"],
                  ["cache", "sqlite:///srv/app/db/cache.sqlite3"]], dbs.map { |d| [d[:key], d[:url]] }
  end

  def test_single_database_two_tier_config
    ActiveRecord::Base.configurations = {"production" => {"adapter" => "trilogy", "host" => "my", "username" => "u",
                                                          "password" => "p w", "database" => "shop"}}
    dbs = Dumper::Stack.databases({}, env_name: "production", root: "/srv/app", env: {})
    assert_equal [["primary", "mysql://u:p%20w@my/shop"]], dbs.map { |d| [d[:key], d[:url]] }
  end

  def test_no_database_for_another_environment
    ActiveRecord::Base.configurations = {"development" => {"adapter" => "sqlite3", "database" => "db/dev.sqlite3"}}
    assert_empty Dumper::Stack.databases({}, env_name: "production", root: "/srv/app", env: {})
  end

  def test_duplicates_collapse_and_keys_stay_unique
    dbs = Dumper::Stack.dedupe([{key: "primary", url: "postgres://a/x", type: "postgresql"},
                                {key: "primary_replica", url: "postgres://a/x", type: "postgresql"},
                                {key: "primary", url: "postgres://b/y", type: "postgresql"}])
    assert_equal %w[primary primary_2], dbs.map { |d| d[:key] }
  end

  def test_redis_from_option_or_env_when_redis_rb_is_loaded
    dbs = Dumper::Stack.databases({redis: {url: "redis://:pw@r:6380/2"}}, env_name: "production", env: {})
    assert_equal [["redis", "redis://:pw@r:6380/2"]], dbs.map { |d| [d[:key], d[:url]] }
    assert_empty Dumper::Stack.redis_databases(nil, {"REDIS_URL" => "redis://r/1"}) unless defined?(::Redis)
    Object.const_set(:Redis, Class.new) unless defined?(::Redis)
    assert_equal "redis://r/1", Dumper::Stack.redis_databases(nil, {"REDIS_URL" => "redis://r/1"}).first[:url]
  end

  def test_explicit_databases_option
    dbs = Dumper::Stack.databases({databases: [{"url" => "mongodb://m/app", "key" => "events"}]}, env_name: "x", env: {})
    assert_equal [["events", "mongodb"]], dbs.map { |d| [d[:key], d[:type]] }
  end

  def test_redact
    assert_equal "postgres://u:***@h/db", Dumper::Stack.redact("postgres://u:secret@h/db")
    assert_equal "redis://:***@h:6379/0", Dumper::Stack.redact("redis://:secret@h:6379/0")
    assert_equal "sqlite:///x.db", Dumper::Stack.redact("sqlite:///x.db")
  end

  def test_dispatcher_override_and_program_names
    assert_equal "unicorn", Dumper::Stack.dispatcher({"DUMPER_DISPATCHER" => "Unicorn"}, "ruby")
    assert_equal "puma", Dumper::Stack.dispatcher({}, "/usr/bin/puma")
    assert_equal "thin", Dumper::Stack.dispatcher({}, "thin")
    assert_equal "unicorn", Dumper::Stack.dispatcher({}, "unicorn_rails")
    assert_nil Dumper::Stack.dispatcher({}, "irb")
    assert_nil Dumper::Stack.dispatcher({}, "rake")
  end

  def test_resque_needs_queue_and_a_worker_process
    Object.const_set(:Resque, Module.new) unless defined?(::Resque)
    assert_equal "resque", Dumper::Stack.dispatcher({"QUEUE" => "*"}, "resque-1.27")
    assert_nil Dumper::Stack.dispatcher({}, "resque-1.27")
  ensure
    Object.send(:remove_const, :Resque) if defined?(::Resque)
  end

  def test_rack_server_handler
    rack = Module.new
    klass = Class.new do
      def server = Struct.new(:name).new("Rack::Handler::WEBrick").then { |h| Module.new.tap { |m| m.define_singleton_method(:name) { h.name } } }
      def options = {server: "webrick"}
    end
    rack.const_set(:Server, klass)
    Object.const_set(:Rackup, rack)
    srv = klass.new
    assert_equal "webrick", Dumper::Stack.dispatcher({}, "rackup")
    srv.hash
  ensure
    Object.send(:remove_const, :Rackup) if defined?(::Rackup)
  end

  def test_server_instances_are_detected
    klass = Class.new
    mod = Module.new
    mod.const_set(:HttpServer, klass)
    Object.const_set(:Unicorn, mod)
    obj = klass.new
    assert_equal "unicorn", Dumper::Stack.dispatcher({}, "ruby")
    obj.hash
  ensure
    Object.send(:remove_const, :Unicorn) if defined?(::Unicorn)
  end
end
