# frozen_string_literal: true

require_relative "test_helper"
require "rails/generators"
require "rails/generators/test_case"
require "active_support/encrypted_configuration"
require "tmpdir"
require "generators/dumper/install/install_generator"

# `rails g dumper:install` against a real destination tree and Rails' own encrypted credentials
# (ActiveSupport::EncryptedConfiguration, what `rails credentials:edit` uses): the key goes into
# config/credentials.yml.enc encrypted, or nowhere; never into a plain file; never to the terminal.
class TestInstallGenerator < Rails::Generators::TestCase
  tests Dumper::Generators::InstallGenerator
  destination File.join(Dir.tmpdir, "dumper-generator-test-#{Process.pid}")
  setup :prepare_destination
  teardown { FileUtils.rm_rf(destination_root) }

  KEY = "dk_0123456789abcdef0123456789abcdef"
  KEY2 = "dk_fedcba9876543210fedcba9876543210"
  START = /^Dumper::Agent\.start$/
  ORIGINAL = <<~YAML
    # aws:
    #   access_key_id: 123

    # Used as the base secret for all MessageVerifiers in Rails.
    secret_key_base: 0a1b2c
    smtp:
      password: "s3cret" # a comment to keep
  YAML

  # a master key in the environment running the tests must not leak into them
  setup { @master_key_env = ENV.delete("RAILS_MASTER_KEY") }
  teardown { ENV["RAILS_MASTER_KEY"] = @master_key_env if @master_key_env }

  def path(rel) = File.join(destination_root, rel)

  def master_key!
    FileUtils.mkdir_p(path("config"))
    File.write(path("config/master.key"), ActiveSupport::EncryptedFile.generate_key)
  end

  def credentials(key_path: path("config/master.key"))
    ActiveSupport::EncryptedConfiguration.new(config_path: path("config/credentials.yml.enc"), key_path: key_path,
                                              env_key: "RAILS_MASTER_KEY", raise_if_missing_key: true)
  end

  # Every file of the app tree that holds the string in plain text (the credentials are binary
  # ciphertext: a key in them would show here too if it were not encrypted).
  def plain_files_with(str)
    Dir.glob("**/*", File::FNM_DOTMATCH, base: destination_root).select do |f|
      File.file?(path(f)) && File.binread(path(f)).include?(str)
    end
  end

  def test_with_a_master_key_the_key_is_stored_encrypted_in_the_credentials
    master_key!
    credentials.write(ORIGINAL)
    out = run_generator [KEY]
    assert_file "config/initializers/dumper.rb" do |c|
      assert_match START, c
      refute_match(/dk_/, c)
      assert_match(/credentials first .*then from the\n# DUMPER_APP_KEY environment variable/m, c)
    end
    assert_match %r{update  config/credentials\.yml\.enc \(dumper\.app_key, encrypted with config/master\.key\)}, out
    plain = credentials.read
    assert_equal ORIGINAL + %(\ndumper:\n  app_key: "#{KEY}"\n), plain, "the rest of the file is kept byte for byte"
    assert_equal KEY, credentials.config.dig(:dumper, :app_key)
    assert_equal "s3cret", credentials.config.dig(:smtp, :password)
    assert_empty plain_files_with(KEY), "the key is in a plain file"
    refute_includes out, KEY, "the key was printed"
    refute File.exist?(path("config/credentials.yml.enc.tmp"))
  end

  def test_rails_master_key_in_the_environment_creates_the_credentials
    k = ActiveSupport::EncryptedFile.generate_key
    out = with_env("RAILS_MASTER_KEY" => k) { run_generator [KEY] }
    assert_match %r{create  config/credentials\.yml\.enc \(dumper\.app_key, encrypted with RAILS_MASTER_KEY\)}, out
    refute File.exist?(path("config/master.key"))
    with_env("RAILS_MASTER_KEY" => k) { assert_equal KEY, credentials.config.dig(:dumper, :app_key) }
    assert_empty plain_files_with(KEY)
    refute_includes out, KEY
  end

  def test_without_a_master_key_nothing_is_written_and_it_says_how_to_set_the_variable
    out = run_generator [KEY]
    assert_file "config/initializers/dumper.rb", START
    refute File.exist?(path("config/credentials.yml.enc"))
    assert_match(/This app has no master key \(config\/master\.key or RAILS_MASTER_KEY\), so the app key was not stored/, out)
    assert_match(/^  export DUMPER_APP_KEY=<the app key>/, out)
    assert_match(/^  Environment=DUMPER_APP_KEY=<the app key>/, out)
    assert_empty plain_files_with(KEY)
    refute_includes out, KEY
  end

  def test_without_a_key
    master_key!
    out = run_generator []
    assert_file "config/initializers/dumper.rb", START
    refute File.exist?(path("config/credentials.yml.enc"))
    assert_match(/No app key given: the agent reads it from the Rails credentials .* else from the DUMPER_APP_KEY/m, out)
  end

  def test_a_rerun_without_force_keeps_the_initializer_and_rotates_the_key
    master_key!
    run_generator [KEY]
    File.write(path("config/initializers/dumper.rb"), "# mine\n")
    out = run_generator [KEY2]
    assert_file "config/initializers/dumper.rb", "# mine\n"
    assert_match %r{skip  config/initializers/dumper\.rb exists; run with --force to re-create it}, out
    assert_equal KEY2, credentials.config.dig(:dumper, :app_key), "the new key replaces the old one"
    refute_includes credentials.read, KEY
    assert_equal 1, credentials.read.scan("app_key:").size
    out = run_generator [KEY2]
    assert_match %r{identical  config/credentials\.yml\.enc \(dumper\.app_key\)}, out
    assert_empty plain_files_with(KEY2)
  end

  def test_force_recreates_the_initializer
    FileUtils.mkdir_p(path("config/initializers"))
    File.write(path("config/initializers/dumper.rb"), "# mine\n")
    out = run_generator %w[--force]
    assert_match %r{force  config/initializers/dumper\.rb}, out
    assert_file "config/initializers/dumper.rb", START
  end

  def test_api_base_is_written_into_the_initializer
    run_generator %w[--api-base https://dumperd.example.com:8477]
    assert_file "config/initializers/dumper.rb" do |c|
      assert_match(/^Dumper::Agent\.start\(api_base: "https:\/\/dumperd\.example\.com:8477"\)$/, c)
      assert_match(/^# Dumper::Agent\.start_if\(api_base: "https:\/\/dumperd\.example\.com:8477"\) do$/, c)
      assert_match(/^# Dumper::Agent\.start\(api_base: "https:\/\/dumperd\.example\.com:8477", debug: true\)$/, c)
    end
  end

  def test_bad_arguments_are_refused_and_nothing_is_written
    master_key!
    ["--api-base=ftp://x", "--api-base=https://user:pw@x", %(--api-base=http://x"; system("id")), "dk with space"].each do |arg|
      err = capture(:stderr) { run_generator [arg] }
      assert_match(/dumper: (--api-base must be an http|the app key must be)/, err, arg)
      refute File.exist?(path("config/initializers/dumper.rb")), arg
      refute File.exist?(path("config/credentials.yml.enc")), arg
    end
  end

  def test_an_undecryptable_credentials_file_is_left_alone
    master_key!
    credentials.write(ORIGINAL)
    before = File.binread(path("config/credentials.yml.enc"))
    File.write(path("config/master.key"), ActiveSupport::EncryptedFile.generate_key) # not the one it was written with
    out = run_generator [KEY]
    assert_match(/the app key was not stored: it cannot be decrypted with the master key from config\/master\.key/, out)
    assert_equal before, File.binread(path("config/credentials.yml.enc"))
    assert_empty plain_files_with(KEY)
  end

  def test_per_environment_credentials_are_pointed_out
    master_key!
    FileUtils.mkdir_p(path("config/credentials"))
    File.write(path("config/credentials/production.yml.enc"), "x")
    out = run_generator [KEY]
    assert_match(/production has credentials of its own \(config\/credentials\/\): add dumper: \{app_key: \.\.\.\} there too/, out)
  end

  def test_master_key_missing_from_gitignore_is_pointed_out
    master_key!
    File.write(path(".gitignore"), "/log/*\n")
    out = run_generator [KEY]
    assert_match(/\.gitignore does not list config\/master\.key/, out)
  end

  def test_destroy_leaves_the_credentials
    master_key!
    run_generator [KEY]
    out = run_generator [KEY], behavior: :revoke
    assert_no_file "config/initializers/dumper.rb"
    assert_equal KEY, credentials.config.dig(:dumper, :app_key)
    assert_match(/left there \(remove it with bin\/rails credentials:edit\)/, out)
  end

  def test_generated_file_is_valid_ruby
    run_generator %w[--api-base http://127.0.0.1:8477]
    code = File.read(path("config/initializers/dumper.rb"))
    assert RubyVM::InstructionSequence.compile(code)
  end
end

class TestCredentialsText < Minitest::Test
  T = Dumper::Generators::CredentialsText

  def test_appends_a_section
    assert_equal %(dumper:\n  app_key: "k"\n), T.with_app_key("", "k")
    assert_equal %(a: 1\n\ndumper:\n  app_key: "k"\n), T.with_app_key("a: 1", "k")
  end

  def test_edits_an_existing_section_in_place
    text = "a: 1\ndumper: # ours\n    api_base: http://x\n    # old key below\n    app_key: old\nb:\n  c: 2\n"
    assert_equal "a: 1\ndumper: # ours\n    api_base: http://x\n    # old key below\n    app_key: \"k\"\nb:\n  c: 2\n",
                 T.with_app_key(text, "k")
    assert_equal "dumper:\n  app_key: \"k\"\n  api_base: http://x\n", T.with_app_key("dumper:\n  api_base: http://x\n", "k")
    assert_equal "dumper:\n  app_key: \"k\"\n", T.with_app_key("dumper:", "k")
  end

  def test_a_key_that_needs_quoting_round_trips
    key = %(dk_"#:\\x)
    assert_equal key, YAML.safe_load(T.with_app_key("a: 1\n", key)).dig("dumper", "app_key")
  end

  def test_refuses_what_it_cannot_edit_safely
    assert_nil T.with_app_key("dumper: {app_key: old}\n", "k"), "flow style"
    assert_nil T.with_app_key("dumper: just a string\n", "k")
    assert_nil T.with_app_key("- a list\n", "k")
    assert_nil T.with_app_key("dumper:\n  app_key: |\n    old\n    key\n", "k"), "a block scalar: the check catches it"
    assert_nil T.with_app_key("a: [unclosed\n", "k")
  end
end
