PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE t(a);
INSERT INTO "t"(rowid,"a") VALUES(1,'kept');
ATTACH 'file:../outside.db?mode=rwc' AS x;
CREATE TABLE x.t(a);
COMMIT;
