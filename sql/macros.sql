-- Macros shared by the models. t_quantile_95(df): the two-sided 95 % quantile of Student's t with df
-- degrees of freedom (exact to 3 decimals for df <= 30, then the next smaller tabulated df: conservative).
CREATE OR REPLACE MACRO t_quantile_95(df) AS (
    CAST(CASE
        WHEN df IS NULL OR df < 1 THEN NULL
        WHEN df <= 30 THEN [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                            2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                            2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042][df::INTEGER]
        WHEN df < 40 THEN 2.042
        WHEN df < 60 THEN 2.021
        WHEN df < 120 THEN 2.000
        ELSE 1.980
    END AS DOUBLE)
);
