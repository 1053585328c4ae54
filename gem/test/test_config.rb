# frozen_string_literal: true

require_relative "test_helper"

class TestConfig < Minitest::Test
  def test_explicit_arguments_win_over_env_and_credentials
    s, src = Dumper::Config.resolve({app_key: "arg"}, env: {"DUMPER_APP_KEY" => "env"}, credentials: {app_key: "cred"})
    assert_equal "arg", s[:app_key]
    assert_equal "argument", src[:app_key]
  end

  def test_credentials_win_over_env
    s, src = Dumper::Config.resolve({}, env: {"DUMPER_APP_KEY" => "env", "DUMPER_API_BASE" => "http://e"},
                                        credentials: {app_key: "cred", api_base: "http://c"})
    assert_equal "cred", s[:app_key]
    assert_equal "http://c", s[:api_base]
    assert_equal "credentials", src[:app_key]
  end

  def test_env_is_the_fallback
    s, src = Dumper::Config.resolve({app_key: nil}, env: {"DUMPER_APP_KEY" => "env"}, credentials: {"api_base" => "http://c"})
    assert_equal "env", s[:app_key]
    assert_equal "DUMPER_APP_KEY", src[:app_key]
    assert_equal "http://c", s[:api_base]
  end

  def test_shadowed_values_are_named_never_shown
    lines = Dumper::Config.shadowed({}, env: {"DUMPER_APP_KEY" => "dk_new"}, credentials: {app_key: "dk_old"})
    assert_equal ["DUMPER_APP_KEY is set but ignored: the app key comes from credentials (dumper.app_key), which " \
                  "comes first (arguments, then credentials, then environment)"], lines
    lines = Dumper::Config.shadowed({app_key: "dk_arg", api_base: "http://a"},
                                    env: {"DUMPER_APP_KEY" => "dk_env", "DUMPER_API_BASE" => "http://e"},
                                    credentials: {app_key: "dk_cred"})
    assert_equal 2, lines.size
    assert_match(/\Acredentials \(dumper\.app_key\) and DUMPER_APP_KEY are set but ignored: the app key comes from the app_key: argument/, lines[0])
    assert_match(/\ADUMPER_API_BASE is set but ignored: the API base comes from the api_base: argument/, lines[1])
    refute_match(/dk_/, lines.join)
  end

  def test_the_same_value_twice_is_not_a_conflict
    assert_empty Dumper::Config.shadowed({app_key: "k"}, env: {"DUMPER_APP_KEY" => "k"}, credentials: {app_key: "k"})
    assert_empty Dumper::Config.shadowed({}, env: {"DUMPER_APP_KEY" => "k"}, credentials: {})
  end

  def test_empty_values_fall_through
    s, = Dumper::Config.resolve({app_key: ""}, env: {"DUMPER_APP_KEY" => "env"}, credentials: {app_key: ""})
    assert_equal "env", s[:app_key]
  end

  def test_old_style_string_and_symbol_keys
    s, = Dumper::Config.resolve({"app_key" => "k", :debug => true, "postgresql" => {"format" => "dump"}}, env: {})
    assert_equal "k", s[:app_key]
    assert_equal true, s[:debug]
    assert_equal({format: "dump"}, s[:postgresql])
  end

  def test_debug_from_env
    s, = Dumper::Config.resolve({}, env: {"DUMPER_DEBUG" => "1"})
    assert_equal true, s[:debug]
    s, = Dumper::Config.resolve({}, env: {"DUMPER_DEBUG" => "false"})
    assert_equal false, s[:debug]
    s, = Dumper::Config.resolve({debug: false}, env: {"DUMPER_DEBUG" => "1"})
    assert_equal false, s[:debug], "an explicit debug: false wins"
  end

  def test_disabled
    assert Dumper::Config.disabled?({"DUMPER_DISABLED" => "true"})
    assert Dumper::Config.disabled?({"DUMPER_DISABLED" => "1"})
    refute Dumper::Config.disabled?({"DUMPER_DISABLED" => "0"})
    refute Dumper::Config.disabled?({})
  end
end
