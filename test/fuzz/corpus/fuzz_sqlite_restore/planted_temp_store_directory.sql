PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE t(a);
INSERT INTO "t"(rowid,"a") VALUES(1,'kept');
PRAGMA temp_store_directory='..';
COMMIT;
