# QUEUE=* ruby script/resque_worker.rb: the Resque stand-in worker (see lib/resque_standin.rb).
ENV["QUEUE"] ||= "*"
require_relative "../lib/resque_standin"
require_relative "../config/environment"
Resque::Worker.new(File.expand_path("../log/jobs.log", __dir__)).work
