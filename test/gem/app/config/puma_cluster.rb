bind "tcp://127.0.0.1:#{ENV.fetch('PORT')}"
environment "production"
workers 2
threads 2, 4
pidfile ENV["PIDFILE"] if ENV["PIDFILE"]
preload_app! if ENV["PRELOAD"] == "1"
fork_worker if ENV["FORK_WORKER"] == "1"
