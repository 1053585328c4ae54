PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE t(a);
INSERT INTO "t"(rowid,"a") VALUES(1,'kept');
INSERT INTO t VALUES('it''s;
');
ATTACH 'victim.db' AS d;
COMMIT;
