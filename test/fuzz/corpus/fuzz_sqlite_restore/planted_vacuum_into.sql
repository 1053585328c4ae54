PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE t(a);
INSERT INTO "t"(rowid,"a") VALUES(1,'kept');
COMMIT;
VACUUM INTO 'copy.db';
