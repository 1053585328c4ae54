# frozen_string_literal: true

# Minitest unit tests of the dumper gem's Ruby side (run by test/integration/gem_unit.sh). They use
# no native extension: a fake Dumper::Native records what the gem would hand to the C agent.
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "minitest/autorun"
require "dumper"

module FakeNative
  @calls = []
  class << self
    attr_accessor :calls, :rc

    def install!
      @calls = []
      @rc = 0
      Dumper.send(:remove_const, :Native) if Dumper.const_defined?(:Native, false)
      Dumper.const_set(:Native, self)
      Dumper.instance_variable_set(:@native_error, nil)
    end

    def start(h)
      @calls << h
      @rc
    end

    def stop = 0
    def status = {running: !@calls.empty?, role: "primary"}
    def strerror(rc) = "error #{rc}"
  end
end

# Runs the block with ENV changes, restored afterwards.
def with_env(vars)
  old = vars.keys.to_h { |k| [k, ENV[k]] }
  vars.each { |k, v| v.nil? ? ENV.delete(k) : ENV[k] = v }
  yield
ensure
  old.each { |k, v| v.nil? ? ENV.delete(k) : ENV[k] = v }
end
