# frozen_string_literal: true

require_relative "test_helper"
require "rails/generators"
require "rails/generators/test_case"
require "tmpdir"
require "generators/dumper/install/install_generator"

class TestInstallGenerator < Rails::Generators::TestCase
  tests Dumper::Generators::InstallGenerator
  destination File.join(Dir.tmpdir, "dumper-generator-test-#{Process.pid}")
  setup :prepare_destination
  teardown { FileUtils.rm_rf(destination_root) }

  def test_with_a_key
    run_generator %w[dk_0123]
    assert_file "config/initializers/dumper.rb" do |c|
      assert_match(/^Dumper::Agent\.start\(app_key: "dk_0123"\)$/, c)
      assert_match(/^# Dumper::Agent\.start_if\(app_key: "dk_0123"\) do$/, c)
      assert_match(/^# Dumper::Agent\.start\(app_key: "dk_0123", debug: true\)$/, c)
    end
  end

  def test_without_a_key_reads_the_environment
    out = run_generator []
    assert_file "config/initializers/dumper.rb" do |c|
      assert_match(/^Dumper::Agent\.start\(app_key: ENV\["DUMPER_APP_KEY"\]\)$/, c)
      refute_match(/dk_/, c)
    end
    assert_match(/export DUMPER_APP_KEY=/, out)
  end

  def test_never_overwrites
    FileUtils.mkdir_p(File.join(destination_root, "config/initializers"))
    File.write(File.join(destination_root, "config/initializers/dumper.rb"), "# mine\n")
    out = run_generator %w[dk_new]
    assert_file "config/initializers/dumper.rb", "# mine\n"
    assert_match(/remove it first/, out)
  end

  def test_generated_file_is_valid_ruby
    run_generator %w[dk_0123]
    code = File.read(File.join(destination_root, "config/initializers/dumper.rb"))
    assert RubyVM::InstructionSequence.compile(code)
  end
end
