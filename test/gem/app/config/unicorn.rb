listen "127.0.0.1:#{ENV.fetch('PORT')}"
worker_processes 2
timeout 60
pid ENV["PIDFILE"] if ENV["PIDFILE"]
preload_app ENV["PRELOAD"] == "1"
before_fork { |_server, _worker| ActiveRecord::Base.connection_pool.disconnect! if defined?(ActiveRecord::Base) }
