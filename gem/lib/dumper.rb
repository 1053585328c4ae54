# frozen_string_literal: true

# The dumper gem: runs Dumper's embedded backup agent (libdumper, a C extension) inside a Rails
# app's server process. Public API: Dumper::Agent.start, .start_if, .stop, and the deploy hook
# Dumper.backup! / `bin/rails dumper:backup` (see docs/gem.md).
require "dumper/version"
require "dumper/native"
require "dumper/stack"
require "dumper/config"
require "dumper/agent"
require "dumper/deploy"
require "dumper/railtie" if defined?(::Rails::Railtie)
