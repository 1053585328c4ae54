# frozen_string_literal: true

module Dumper
  # Marks the contexts where no agent must run; the agent itself starts from the
  # after_initialize hook that Dumper::Agent.start registers.
  class Railtie < ::Rails::Railtie
    console { Dumper::Agent.context = "rails console" }
    runner { Dumper::Agent.context = "rails runner" }
    generators { Dumper::Agent.context = "rails generator" }
    rake_tasks { load File.expand_path("../tasks/dumper.rake", __dir__) }
  end
end
