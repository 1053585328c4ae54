# frozen_string_literal: true

# bin/rails dumper:backup - a backup of the app's databases through dumperd, waiting until every one is
# good: run it before db:migrate in a deploy (docs/gem.md, "Deploy hooks"). Exits 1 when a backup failed,
# timed out (DUMPER_BACKUP_TIMEOUT seconds, default 3600) or could not be asked for.
namespace :dumper do
  desc "Back up this app's databases through dumperd and wait until they are good (run before db:migrate)"
  task backup: :environment do
    Dumper.backup!(wait: true)
  rescue Dumper::BackupError => e
    warn "[Dumper] #{e.message}"
    exit 1
  end
end
