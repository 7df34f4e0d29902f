-- Every field of a card is stored, so destill view gives back the cards
-- destill run prints: the job's exit status (NULL when the source does not
-- know it) and the line's position in the chunk that found it. Adding a
-- column with a constant default rewrites no row; stored findings read as
-- an unknown exit status and line 0 of their chunk.
ALTER TABLE findings
    ADD COLUMN exit_status   integer,
    ADD COLUMN line_in_chunk integer NOT NULL DEFAULT 0;
